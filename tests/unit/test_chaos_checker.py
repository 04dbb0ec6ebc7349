"""The history checker of scripts/chaos flags what it must, and only that."""

import importlib.machinery
import importlib.util
import os

from twisted.trial.unittest import SynchronousTestCase

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.realpath(__file__)))), "scripts", "chaos")


def _chaos():
    loader = importlib.machinery.SourceFileLoader("chaos_script", _PATH)
    spec = importlib.util.spec_from_loader("chaos_script", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class CheckerTests(SynchronousTestCase):
    def setUp(self):
        self.chaos = _chaos()

    def history(self, writes, reads):
        history = self.chaos.History()
        history.writes = writes
        history.reads = reads
        return history

    def test_stale_read_is_a_violation(self):
        history = self.history([("r0", "a", 0, 1), ("r0", "b", 2, 3)],
                               [("r0", "a", 4, 5)])
        self.assertEqual(len(self.chaos.raw_violations(history)), 1)

    def test_missing_after_acknowledged_write_is_a_violation(self):
        history = self.history([("r0", "a", 0, 1)], [("r0", None, 2, 3)])
        self.assertEqual(len(self.chaos.raw_violations(history)), 1)

    def test_concurrent_and_unacknowledged_writes_are_allowed(self):
        history = self.history(
            [("r0", "a", 0, 1), ("r0", "b", 0.5, 4), ("r0", "c", 1.5, None)],
            [("r0", "b", 2, 3), ("r0", "a", 1.2, 1.4), ("r0", "c", 5, 6), ("r1", None, 0, 1)])
        self.assertEqual(self.chaos.raw_violations(history), [])
