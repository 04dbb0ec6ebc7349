"""Real nodes in one reactor: a node that comes back up gets the writes it
missed at once, from the peers that see it come back (issue 22, defect 7).

No sync pass is called by the test and the sharded tables' interval is ten
minutes: the rows can only come from the catch-up that a new connection
starts on both of its ends.
"""

import os

from twisted.internet import defer, reactor
from twisted.trial.unittest import TestCase

from garage_twisted.model.key import Key
from garage_twisted.model.object import Object, ObjectVersion, STATE_UPLOADING
from tests.support.cluster import start_cluster
from tests.support.node import NodeFixture, wait_synced

# Far below the sharded tables' interval (SHARDED_INTERVAL): without the
# catch-up the rows would not come within it.
CATCH_UP_TIMEOUT = 20.0


def when_true(tables, predicate, timeout: float) -> defer.Deferred:
    """Fires once ``predicate()`` holds, checked after every row written to
    ``tables``' local data; fails with ``TimeoutError`` after ``timeout``."""
    done = defer.Deferred()

    def check():
        if not done.called and predicate():
            done.callback(None)

    for table in tables:
        table.data.on_merkle_todo.append(check)
    check()
    return done.addTimeout(timeout, reactor)


class CatchUpTests(TestCase):
    timeout = 60

    async def test_a_restarted_node_gets_the_writes_it_missed_at_once(self):
        fixtures, (a, b, c) = await start_cluster(self)
        # Layout version 1 settled: full passes come every SHARDED_INTERVAL
        # from now on, no longer retried every few seconds.
        await wait_synced([a, b, c], 1)
        base_c = fixtures[2].base
        await fixtures[2].stop()
        bucket = os.urandom(32)
        entries = [Object(bucket, f"k{i}", (ObjectVersion(os.urandom(32), 1, STATE_UPLOADING),))
                   for i in range(50)]
        await a.model.object_table.insert_many(entries)
        key = Key.new(1, "while-away")
        await a.model.key_table.insert(key)  # a full-copy table
        object_syncers = [next(s for s in n.syncers if s.table is n.model.object_table)
                          for n in (a, b)]
        passes = [s.passes for s in object_syncers]

        again = await NodeFixture.start(self, base=base_c, rpc_secret=fixtures[0].rpc_secret,
                                        apply_layout=False, replication_factor=3,
                                        extra=f'bootstrap_peers = ["{fixtures[0].peer_address}"]')
        c = again.node
        self.assertIsNone(c.model.object_table.data.read_entry(bucket, b"k0"))

        def holds_everything():
            return all(c.model.object_table.data.read_entry(bucket, e.key.encode()) == e
                       for e in entries) and \
                c.model.key_table.data.read_entry(key.partition_hash(), key.sort_key()) == key

        await when_true([c.model.object_table, c.model.key_table], holds_everything,
                        CATCH_UP_TIMEOUT)
        # Brought by the catch-up, not by a full pass of A or B.
        self.assertEqual([s.passes for s in object_syncers], passes)
