"""Background workers survive exceptions, yield between steps, and stop cleanly."""

from twisted.internet import defer
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from garage_twisted.db.memory import MemoryStore
from garage_twisted.util.worker import (
    MAX_BACKOFF, IntSetting, IWorker, WorkerRunner, WorkerState, WorkerVariable,
    WorkerVariableError)


@implementer(IWorker)
class ScriptedWorker:
    """Returns (or raises) the scripted outcomes, one per step."""

    def __init__(self, name, outcomes):
        self.name = name
        self.outcomes = list(outcomes)
        self.calls = 0

    def work(self):
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else WorkerState.IDLE
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def status(self):
        return {"queue_length": len(self.outcomes)}


class WorkerRunnerTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.runner = WorkerRunner(self.clock, idle_delay=10)

    def test_survives_exceptions_with_backoff(self):
        """A failing worker is retried after growing delays and recovers."""
        worker = ScriptedWorker("w", [ValueError("a"), ValueError("b"), WorkerState.IDLE])
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)
        self.assertEqual(worker.calls, 1)
        self.clock.advance(0.99)
        self.assertEqual(worker.calls, 1)
        self.clock.advance(0.01)
        self.assertEqual(worker.calls, 2)
        self.clock.advance(2)
        self.assertEqual(worker.calls, 3)
        info = self.runner.list_workers()[0]
        self.assertEqual((info.errors, info.consecutive_errors), (2, 0))
        self.assertIn("ValueError: b", info.last_error)
        self.flushLoggedErrors(ValueError)
        self.runner.stopService()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_states_are_worker_states(self):
        """The runner keeps each worker's state as a WorkerState: BUSY
        during a step, IDLE between, THROTTLED in an error's back-off, DONE
        at the end."""
        pending = defer.Deferred()
        worker = ScriptedWorker("w", [pending, ValueError("x"), WorkerState.IDLE,
                                      WorkerState.DONE])
        verifyObject(IWorker, worker)
        self.runner.add(worker)

        def state():
            return self.runner.list_workers()[0].state

        self.assertIs(state(), WorkerState.IDLE)
        self.runner.startService()
        self.clock.advance(0)
        self.assertIs(state(), WorkerState.BUSY)
        pending.callback(WorkerState.BUSY)
        self.assertIs(state(), WorkerState.BUSY)  # until its next step
        self.clock.advance(0)
        self.assertIs(state(), WorkerState.THROTTLED)
        self.assertEqual(self.runner.list_workers()[0].next_step_in, 1.0)
        self.flushLoggedErrors(ValueError)
        self.clock.advance(1)
        self.assertIs(state(), WorkerState.IDLE)
        self.runner.wake("w")
        self.clock.advance(0)
        self.assertIs(state(), WorkerState.DONE)
        self.runner.stopService()

    def test_a_step_answering_no_outcome_fails(self):
        """A step returning anything but BUSY, IDLE or DONE (a bare string,
        None, THROTTLED) counts as a failed step, never as idle."""
        for outcome in ("idle", None, WorkerState.THROTTLED, [1]):
            runner = WorkerRunner(self.clock, idle_delay=10)
            worker = ScriptedWorker("w", [outcome])
            runner.add(worker)
            runner.startService()
            self.clock.advance(0)
            (info,) = runner.list_workers()
            self.assertEqual((info.state, info.errors), (WorkerState.THROTTLED, 1))
            self.assertIn("TypeError", info.last_error)
            runner.stopService()

    def test_names_and_one_worker_read_no_other_status(self):
        """Statuses may count whole queues: names() reads none, and asking
        for one worker reads that worker's alone."""
        asked = []

        class Counting(ScriptedWorker):
            def status(self):
                asked.append(self.name)
                return {}

        for name in ("b", "a", "c"):
            self.runner.add(Counting(name, []))
        self.assertEqual(self.runner.names(), ["a", "b", "c"])
        self.assertEqual(asked, [])
        wanted = next(i.id for i in self.runner.list_workers() if i.name == "c")
        asked.clear()
        (info,) = self.runner.list_workers(wanted)
        self.assertEqual((info.name, asked), ("c", ["c"]))

    def test_backoff_is_capped(self):
        """Consecutive failures never push the retry past MAX_BACKOFF."""
        worker = ScriptedWorker("w", [ValueError()] * 20)
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)
        for _ in range(19):
            self.clock.advance(MAX_BACKOFF)
        self.assertEqual(worker.calls, 20)
        self.runner.stopService()

    def test_busy_steps_yield_to_the_reactor(self):
        """A busy worker's next step goes through the clock, never recursion."""
        steps = []

        class Busy:
            name = "busy"

            def work(inner):
                # Each step must start from the clock, with no other step
                # of this worker on the stack.
                steps.append(len(self.clock.getDelayedCalls()))
                return WorkerState.BUSY if len(steps) < 3 else WorkerState.IDLE

            def status(inner):
                return {}

        self.runner.add(Busy())
        self.runner.startService()
        self.assertEqual(steps, [])
        self.clock.advance(0)
        self.assertEqual(steps, [0, 0, 0])
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.runner.stopService()

    def test_busy_delay_paces_a_backlog(self):
        """A worker with a ``busy_delay`` waits that long between busy steps."""
        worker = ScriptedWorker("w", [WorkerState.BUSY] * 3)
        worker.busy_delay = 0.5
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)
        self.assertEqual(worker.calls, 1)
        self.clock.advance(0.49)
        self.assertEqual(worker.calls, 1)
        self.clock.advance(0.01)
        self.assertEqual(worker.calls, 2)
        self.clock.advance(0.5)
        self.assertEqual(worker.calls, 3)
        self.runner.stopService()

    def test_idle_waits_or_wakes(self):
        """An idle worker waits its delay, unless woken."""
        worker = ScriptedWorker("w", [])
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)
        self.clock.advance(5)
        self.assertEqual(worker.calls, 1)
        self.runner.wake("w")
        self.clock.advance(0)
        self.assertEqual(worker.calls, 2)
        self.clock.advance(10)
        self.assertEqual(worker.calls, 3)
        self.runner.stopService()

    def test_done_stops(self):
        """A worker that says DONE is not called again."""
        worker = ScriptedWorker("w", [WorkerState.DONE])
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(100)
        self.assertEqual(worker.calls, 1)
        self.runner.stopService()

    def test_stop_waits_for_running_step(self):
        """stopService fires only once the running step finished."""
        pending = defer.Deferred()

        class Slow:
            name = "slow"

            def work(self):
                return pending

            def status(self):
                return {}

        self.runner.add(Slow())
        self.runner.startService()
        self.clock.advance(0)
        stopped = self.runner.stopService()
        self.assertNoResult(stopped)
        pending.callback(WorkerState.BUSY)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_gives_up_on_a_stuck_step(self):
        """A step that never ends cannot keep the node from stopping: after
        STOP_TIMEOUT the runner reports it and stops anyway."""
        from garage_twisted.util.worker import STOP_TIMEOUT

        class Stuck:
            name = "stuck"

            def work(self):
                return defer.Deferred()

            def status(self):
                return {}

        self.runner.add(Stuck())
        self.runner.startService()
        self.clock.advance(0)
        stopped = self.runner.stopService()
        self.clock.advance(STOP_TIMEOUT - 0.1)
        self.assertNoResult(stopped)
        self.clock.advance(0.2)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class SlowWorker(ScriptedWorker):
    """Each step takes ``step_time`` seconds of the clock."""

    def __init__(self, name, outcomes, clock, step_time, tranquility):
        super().__init__(name, outcomes)
        self.clock = clock
        self.step_time = step_time
        self.tranquility = tranquility

    def work(self):
        self.clock.advance(self.step_time)
        return super().work()


class TranquilityAndLaunchTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.runner = WorkerRunner(self.clock, idle_delay=10)
        self.addCleanup(self.runner.stopService)

    def test_tranquility_rests_after_busy_steps(self):
        """A worker with tranquility T rests T times its last step's duration."""
        worker = SlowWorker("w", [WorkerState.BUSY] * 3, self.clock, 0.5, 3)
        self.runner.add(worker)
        self.runner.startService()
        self.clock.advance(0)
        self.assertEqual(worker.calls, 1)
        self.runner.wake("w")  # a wake does not cut the rest short
        self.clock.advance(1.49)
        self.assertEqual(worker.calls, 1)
        self.clock.advance(0.01)
        self.assertEqual(worker.calls, 2)
        self.assertEqual(self.runner.list_workers()[0].tranquility, 3)

    def test_launch_replaces_a_finished_worker_only(self):
        """A one-off worker is launched again once done, not while it runs."""
        first = ScriptedWorker("repair", [WorkerState.BUSY, WorkerState.DONE])
        self.runner.startService()
        self.runner.launch(first)
        self.assertRaises(WorkerVariableError, self.runner.launch,
                          ScriptedWorker("repair", []))
        self.clock.advance(0)
        self.clock.advance(0)
        self.assertIs(self.runner.list_workers()[0].state, WorkerState.DONE)
        second = ScriptedWorker("repair", [WorkerState.DONE])
        self.runner.launch(second)
        self.clock.advance(0)
        self.assertEqual((first.calls, second.calls), (2, 1))
        self.assertIs(self.runner.worker("repair"), second)

    def test_variables(self):
        """Variables of every worker, read-only ones refused, unknown ones too."""
        tree = MemoryStore().open_tree("settings")
        setting = IntSetting(tree, b"n", 5, 1, 8)
        worker = ScriptedWorker("w", [])
        worker.variables = {"w-count": setting.variable(),
                            "w-seen": WorkerVariable(lambda: "42")}
        self.runner.add(worker)
        self.assertEqual(self.runner.get_variable("w-seen"), "42")
        self.assertEqual(self.runner.set_variable("w-count", "8"), "8")
        self.assertEqual(IntSetting(tree, b"n", 5).value, 8)  # kept in the store
        for name, value in (("w-count", "0"), ("w-count", "x"), ("w-seen", "1"),
                            ("nope", "1")):
            self.assertRaises(WorkerVariableError, self.runner.set_variable, name, value)
        self.assertRaises(WorkerVariableError, self.runner.get_variable, "nope")
        self.assertEqual(setting.value, 8)
