"""The lifecycle worker's persisted progress: named fields, the bytes of before."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.db.memory import MemoryStore
from garage_twisted.model.lifecycle import STATE_KEY, LifecycleProgress, LifecycleWorker
from garage_twisted.util import codec


class LifecycleProgressTests(SynchronousTestCase):
    def test_progress_keeps_its_stored_bytes(self):
        """The progress is stored as the ``[day, cursor]`` CBOR list earlier
        releases wrote: a node's persisted state reads back, and is written
        back byte for byte."""
        self.assertEqual(codec.dumps(LifecycleProgress().to_cbor()), bytes.fromhex("8220f6"))
        store = MemoryStore()
        tree = store.open_tree("lifecycle")
        for old in ([19_700, b"bucket\x00key\x00"], [19_700, None]):
            raw = codec.dumps(old)
            tree.insert(STATE_KEY, raw)
            worker = LifecycleWorker(None, store, lambda _hash: True, Clock())
            self.assertEqual(worker.state, LifecycleProgress(*old))
            self.assertEqual(worker.status()["in_progress"], old[1] is not None)
            worker._save()
            self.assertEqual(bytes(tree.get(STATE_KEY)), raw)
        # A finished pass found on disk is the last completed one.
        self.assertEqual(worker.last_completed, 19_700)
