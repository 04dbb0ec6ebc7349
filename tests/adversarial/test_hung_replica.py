"""Issue 28: a replica that hangs costs a GET milliseconds, not a timeout.

On a 3-node cluster in one reactor, node 0 has lost its copies of an
object's blocks, and the replica it asks first accepts block reads but never
answers them (a frozen disk, a paused process). Before hedged reads, each
block waited out the 60 s call timeout before the next replica was asked;
now the next is asked after a delay derived from the ping round trip, and
the GET completes long before the test's timeout.
"""

import os

from twisted.internet import defer
from twisted.trial.unittest import TestCase

from garage_twisted.block.data import block_hash
from garage_twisted.block.replication import GET_PATH, TIMEOUT
from tests.adversarial.test_corrupt_block import block_file, wait_until
from tests.support.cluster import start_cluster
from tests.support.node import in_thread


class HungReplicaTests(TestCase):
    # Far below the per-call timeout a read waited for before.
    timeout = 30
    assert timeout < TIMEOUT

    async def test_get_through_a_node_whose_first_replica_hangs(self):
        fixtures, nodes = await start_cluster(self, extras=("disable_scrub = true",) * 3)
        key = await fixtures[0].create_key()
        client = fixtures[0].boto3_client(key)
        self.addCleanup(client.close)
        await in_thread(client.create_bucket, Bucket="bkt")
        size = fixtures[0].block_size
        body = os.urandom(2 * size + 1000)
        await in_thread(client.put_object, Bucket="bkt", Key="k", Body=body)
        hashes = [block_hash(body[i:i + size]) for i in range(0, len(body), size)]
        await wait_until(lambda: all(block_file(n, h) for n in nodes for h in hashes),
                         "the blocks on every node")
        reader = nodes[0]
        for hash_ in hashes:
            os.unlink(block_file(reader, hash_))
        replicator = reader.block_manager.replicator
        order = [n for n in replicator._read_order(hashes[0]) if n != reader.node_key.node_id]
        hung = next(n for n in nodes if n.node_key.node_id == order[0])
        stalled = []

        def never_answer(call):
            d = defer.Deferred()
            stalled.append(d)
            return d
        hung.network.endpoints[GET_PATH] = never_answer
        self.addCleanup(lambda: [d.callback(None) for d in stalled if not d.called])

        got = await in_thread(client.get_object, Bucket="bkt", Key="k")
        self.assertEqual(await in_thread(got["Body"].read), body)
        self.assertGreaterEqual(len(stalled), 1)
        self.assertGreaterEqual(replicator.hedged, 1)
