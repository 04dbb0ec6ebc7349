"""LaunchRepairOperation ``tables``: every table's sync worker runs a pass now."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.admin.repairs import launch_repair_operation
from garage_twisted.util.worker import WorkerRunner
from tests.unit.util.test_worker import ScriptedWorker


class RepairTablesTests(SynchronousTestCase):
    def test_every_sync_worker_runs_at_once(self):
        clock = Clock()
        runner = WorkerRunner(clock, idle_delay=600)
        syncers = [ScriptedWorker(f"{name} sync", []) for name in ("object", "bucket")]
        other = ScriptedWorker("block resync", [])
        for worker in syncers + [other]:
            runner.add(worker)
        runner.startService()
        self.addCleanup(runner.stopService)
        clock.advance(0)  # the passes due at start
        self.assertEqual([w.calls for w in syncers + [other]], [1, 1, 1])
        self.successResultOf(defer.ensureDeferred(launch_repair_operation(
            SimpleNamespace(workers=runner), {"repairType": "tables"})))
        clock.advance(0)
        # The sync workers ran again, not after their 600 s idle delay; the
        # others did not.
        self.assertEqual([w.calls for w in syncers + [other]], [2, 2, 1])

