"""S3 on a 3-node cluster (replication factor 3) in one reactor, with boto3."""

import hashlib
import os

from twisted.trial.unittest import TestCase

from tests.support.cluster import start_cluster
from tests.support.node import in_thread


class S3ClusterTests(TestCase):
    timeout = 120
    _cluster = start_cluster

    async def test_put_on_one_node_get_and_list_on_the_others(self):
        fixtures, (a, b, c) = await self._cluster()
        key = await fixtures[0].create_key()
        clients = []
        for fixture in fixtures:
            client = fixture.boto3_client(key)
            self.addCleanup(client.close)
            clients.append(client)
        await in_thread(clients[0].create_bucket, Bucket="shared")
        small, big = b"hello cluster", os.urandom(3 * 1024 * 1024 + 5)
        await in_thread(clients[0].put_object, Bucket="shared", Key="small.txt", Body=small)
        await in_thread(clients[1].put_object, Bucket="shared", Key="big.bin", Body=big)
        for client in clients:
            got = await in_thread(client.get_object, Bucket="shared", Key="big.bin")
            body = await in_thread(got["Body"].read)
            self.assertEqual(hashlib.sha256(body).digest(), hashlib.sha256(big).digest())
            got = await in_thread(client.get_object, Bucket="shared", Key="small.txt")
            self.assertEqual(await in_thread(got["Body"].read), small)
            listed = await in_thread(client.list_objects_v2, Bucket="shared")
            self.assertEqual([o["Key"] for o in listed["Contents"]], ["big.bin", "small.txt"])
        # With one node stopped, the others still write and read.
        await fixtures[2].stop()
        await in_thread(clients[0].put_object, Bucket="shared", Key="later", Body=b"x")
        got = await in_thread(clients[1].get_object, Bucket="shared", Key="later")
        self.assertEqual(await in_thread(got["Body"].read), b"x")
