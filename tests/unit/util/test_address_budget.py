"""Connection caps count clients as networks see them."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.address_budget import AddressBudget, address_key, client_key


class ClientKeyTests(SynchronousTestCase):
    def test_forms(self):
        self.assertEqual(client_key("192.0.2.7"), "192.0.2.7")
        self.assertEqual(client_key("::ffff:192.0.2.7"), "192.0.2.7")
        self.assertEqual(client_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        self.assertEqual(client_key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64")
        self.assertEqual(client_key("fe80::1%eth0"), "fe80::/64")
        self.assertEqual(client_key(""), "")
        self.assertEqual(client_key("/run/garage.sock"), "/run/garage.sock")


class AddressBudgetTests(SynchronousTestCase):
    def test_caps_and_release(self):
        budget = AddressBudget(total=3, per_client=2)
        self.assertTrue(budget.admit("192.0.2.1"))
        self.assertTrue(budget.admit("192.0.2.1"))
        self.assertFalse(budget.admit("192.0.2.1"))
        self.assertTrue(budget.admit("192.0.2.2"))
        self.assertFalse(budget.admit("192.0.2.3"))  # total
        self.assertEqual((budget.open, budget.refused), (3, 2))
        budget.release("192.0.2.1")
        self.assertEqual(budget.held_by("192.0.2.1"), 1)
        self.assertTrue(budget.admit("192.0.2.3"))


class AddressKeyTests(SynchronousTestCase):
    def test_rpc_peers_count_per_host(self):
        """On the RPC port peers of one /64 are distinct machines."""
        self.assertEqual(address_key("::ffff:192.0.2.7"), "192.0.2.7")
        self.assertEqual(address_key("2001:db8::1"), "2001:db8::1")
        budget = AddressBudget(total=10, per_client=1, key=address_key)
        self.assertTrue(budget.admit("2001:db8::1"))
        self.assertTrue(budget.admit("2001:db8::2"))
        self.assertFalse(budget.admit("2001:db8::1"))
