"""``block_ram_buffer_max`` on a real cluster: a budget smaller than a
block still lets uploads through (one block at a time), the data reads back
from every node, and every byte taken is given back once the background
copies are written."""

import os

from twisted.trial.unittest import TestCase

from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread
from tests.support.waiting import until

BUCKET = "budget"


class BlockRamBufferTests(TestCase):
    timeout = 120

    async def test_tiny_budget_uploads_one_block_at_a_time(self):
        fixtures, nodes = await start_cluster(
            self, extras=('block_ram_buffer_max = "64KiB"',))
        budget = nodes[0].block_manager.replicator.ram_buffer
        self.assertEqual(budget.limit, 64 * 1024)
        key = await fixtures[0].create_key()
        s3, other = boto3_clients(self, fixtures[:2], key)
        await in_thread(s3.create_bucket, Bucket=BUCKET)
        body = os.urandom(5 * 1024 * 1024 + 12345)
        await in_thread(s3.put_object, Bucket=BUCKET, Key="big", Body=body)
        # Each block larger than the budget went alone: they waited.
        self.assertGreater(budget.waits, 0)
        got = await in_thread(other.get_object, Bucket=BUCKET, Key="big")
        self.assertEqual(await in_thread(got["Body"].read), body)
        await until(lambda: budget.held == 0, "every byte given back after the copies")
        self.assertEqual(budget.free, budget.limit)
