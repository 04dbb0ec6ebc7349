"""Small objects for a hung replica do not pile up in memory either.

An object of a few KiB travels to its replicas inside one message
(``model/small_put.py``); the write is acknowledged at the quorum and the
message for the third node waits for it. With that node hung (reading
nothing), every small PUT used to leave its block queued for it until the
call's timeout: a burst of uploads, all held. They now take their size from
``block_ram_buffer_max`` like block writes: past it, the next PUT waits
until the hung node reads or is dropped.
"""

import os

from twisted.trial.unittest import TestCase

from tests.support.cluster import boto3_clients, start_cluster
from tests.support.node import in_thread
from tests.support.waiting import until

BUCKET = "smallhung"


class HungReplicaSmallObjectsTests(TestCase):
    timeout = 120

    async def test_small_puts_wait_for_the_budget(self):
        fixtures, nodes = await start_cluster(
            self, extras=('block_ram_buffer_max = "20KiB"',))
        budget = nodes[0].block_manager.replicator.ram_buffer
        key = await fixtures[0].create_key()
        s3, = boto3_clients(self, fixtures[:1], key)
        await in_thread(s3.create_bucket, Bucket=BUCKET)
        await until(lambda: budget.held == 0, "the bucket's writes settled")
        # Node 2 stops reading from node 0.
        hung = nodes[2].network.connections[nodes[0].node_key.node_id].transport
        hung.pauseProducing()
        self.addCleanup(hung.resumeProducing)
        bodies = [os.urandom(8192) for _ in range(3)]
        for i in range(2):
            await in_thread(s3.put_object, Bucket=BUCKET, Key=f"k{i}", Body=bodies[i])
        self.assertEqual(budget.held, 2 * 8192)
        # The third has no room: it waits, unanswered, for the hung copies.
        third = in_thread(s3.put_object, Bucket=BUCKET, Key="k2", Body=bodies[2])
        await until(lambda: budget._waiting, "the third PUT waiting for room")
        self.assertFalse(third.called)
        # The hung node reads again: its copies land and the PUT goes on.
        hung.resumeProducing()
        await third
        await until(lambda: budget.held == 0, "every copy written")
        got = await in_thread(s3.get_object, Bucket=BUCKET, Key="k2")
        self.assertEqual(await in_thread(got["Body"].read), bodies[2])
