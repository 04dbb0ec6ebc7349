"""A peer whose ``merkle/nodes`` answer is short (or not nodes) cannot make
anti-entropy skip the keys it left out.

The level walk zips the keys it asked with the nodes answered: a short list
silently dropped the rest, whose rows were then never pushed, and the pass
counted as complete. Such an answer now fails the walk (logged, retried by
the next pass), and an honest answer then brings the replica level.
"""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from tests.unit.table.test_fake_cluster import PK, FakeCluster, record


class LyingMerklePeerTests(SynchronousTestCase):
    def test_short_answer_fails_the_walk_instead_of_skipping_keys(self):
        cluster = FakeCluster()
        a, b, c = cluster.nodes
        cluster.hub.isolate(c.node_id)
        cluster.run(a.table.insert_many(
            [record(PK, b"k%d" % i, 1, v=i) for i in range(50)]))
        cluster.hub.heal()
        path = "table/record/merkle/nodes"
        honest = c.network.endpoints[path]
        for lie in ([], [None], [b"x", 7]):
            c.network.endpoints[path] = lambda call, lie=lie: lie
            for node in (a, b):
                node.update_merkle()
                node.syncer.last_error = None
                cluster.run(defer.ensureDeferred(node.syncer._sync_partitions(
                    c.node_id, node.syncer._shared_partitions(c.node_id),
                    node.syncer._roots())).addErrback(
                        lambda f, node=node: setattr(node.syncer, "last_error",
                                                     f.getErrorMessage())))
                self.assertIn("did not answer one node or None", node.syncer.last_error or "")
        self.assertEqual(len(c.rows()), 0)
        c.network.endpoints[path] = honest
        cluster.anti_entropy()
        self.assertEqual(c.rows(), a.rows())
