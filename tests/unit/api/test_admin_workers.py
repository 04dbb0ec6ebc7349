"""The admin API shows the runner's WorkerState as Garage's strings, at its edge."""

from types import SimpleNamespace

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.admin.workers import list_workers
from garage_twisted.util.worker import WorkerInfo, WorkerState


class _Runner:
    def __init__(self, infos):
        self.infos = infos

    def list_workers(self, worker_id=None):
        return [i for i in self.infos if worker_id is None or i.id == worker_id]


def _info(worker_id, state, errors=0, next_step_in=None):
    return WorkerInfo(f"w{worker_id}", state, errors, errors, None, {},
                      next_step_in=next_step_in, id=worker_id)


class WorkerStateJsonTests(SynchronousTestCase):
    def _list(self, infos, body=None):
        api = SimpleNamespace(workers=_Runner(infos), clock=SimpleNamespace(seconds=lambda: 0))
        return self.successResultOf(defer.ensureDeferred(list_workers(api, body or {})))

    def test_states_show_as_garage_strings(self):
        """BUSY, IDLE and DONE are Garage's "busy", "idle" and "done";
        THROTTLED is Garage's ``{"throttled": {"durationSecs": s}}``."""
        infos = [_info(0, WorkerState.BUSY), _info(1, WorkerState.IDLE),
                 _info(2, WorkerState.DONE), _info(3, WorkerState.THROTTLED, 1, 1.5)]
        self.assertEqual([w["state"] for w in self._list(infos)],
                         ["busy", "idle", "done", {"throttled": {"durationSecs": 1.5}}])

    def test_busy_only_keeps_busy_and_throttled(self):
        """``busyOnly`` lists the workers in a step or in a back-off, as before."""
        infos = [_info(0, WorkerState.BUSY), _info(1, WorkerState.IDLE),
                 _info(2, WorkerState.DONE), _info(3, WorkerState.THROTTLED, 1, 2.0)]
        self.assertEqual([w["id"] for w in self._list(infos, {"busyOnly": True})], [0, 3])
