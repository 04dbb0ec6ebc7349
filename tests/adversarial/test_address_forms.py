"""A client takes more than its share of the connection caps by changing
how its address is spelled: the 2^64 addresses of its IPv6 /64, or its IPv4
address mapped into IPv6 (a dual-stack listener) beside the plain one (an
IPv4 listener sharing the budget, as S3 and website do).

Each is one client: the caps count an IPv6 /64 and ``::ffff:a.b.c.d`` as
one (``util/address_budget.py``)."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.api.limits import ConnectionBudget, ConnectionCaps


class AddressFormTests(SynchronousTestCase):
    def test_cycling_through_a_slash_64_gets_one_share(self):
        budget = ConnectionBudget(ConnectionCaps(total=100, per_address=4))
        admitted = sum(budget.admit(f"2001:db8:42:7::{i:x}") for i in range(1, 50))
        self.assertEqual(admitted, 4)
        # Another /64 has its own share.
        self.assertTrue(budget.admit("2001:db8:42:8::1"))

    def test_mapped_and_plain_ipv4_share_one(self):
        budget = ConnectionBudget(ConnectionCaps(total=100, per_address=4))
        admitted = [budget.admit(address) for address in
                    ("198.51.100.9", "::ffff:198.51.100.9") * 4]
        self.assertEqual(sum(admitted), 4)
        self.assertEqual(budget.held_by("198.51.100.9"), 4)
        for _ in range(2):
            budget.release("::ffff:198.51.100.9")
            budget.release("198.51.100.9")
        self.assertEqual(budget.open, 0)
