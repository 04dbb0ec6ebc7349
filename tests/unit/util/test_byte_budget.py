"""The byte budget behind ``block_ram_buffer_max``."""

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.byte_budget import ByteBudget


class ByteBudgetTests(SynchronousTestCase):
    def test_within_the_limit_at_once_then_waits_in_order(self):
        budget = ByteBudget(100)
        self.successResultOf(budget.acquire(60))
        self.successResultOf(budget.acquire(40))
        self.assertEqual(budget.free, 0)
        first, second = budget.acquire(50), budget.acquire(10)
        self.assertNoResult(first)
        # Behind a waiter, a small request waits too (no starving the large).
        self.assertNoResult(second)
        budget.release(40)
        self.assertNoResult(first)
        budget.release(60)
        self.successResultOf(first)
        self.successResultOf(second)
        self.assertEqual((budget.held, budget.waits), (60, 2))

    def test_larger_than_the_limit_passes_alone(self):
        budget = ByteBudget(100)
        self.successResultOf(budget.acquire(250))
        other = budget.acquire(1)
        self.assertNoResult(other)
        budget.release(250)
        self.successResultOf(other)
        big = budget.acquire(250)
        self.assertNoResult(big)
        budget.release(1)
        self.successResultOf(big)

    def test_a_cancelled_waiter_takes_nothing_and_lets_the_next_in(self):
        budget = ByteBudget(100)
        self.successResultOf(budget.acquire(90))
        big, small = budget.acquire(50), budget.acquire(10)
        big.cancel()
        self.failureResultOf(big, defer.CancelledError)
        self.successResultOf(small)
        self.assertEqual(budget.held, 100)

    def test_refuses_a_limit_of_nothing_and_an_extra_release(self):
        with self.assertRaises(ValueError):
            ByteBudget(0)
        budget = ByteBudget(10)
        with self.assertRaises(AssertionError):
            budget.release(1)
