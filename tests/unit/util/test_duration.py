"""Duration strings as Garage reads them, and metadata_auto_snapshot_interval."""

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.util.config import parse_config
from garage_twisted.util.duration import parse_duration
from garage_twisted.util.errors import ConfigError

BASE = """
metadata_dir = "/m"
data_dir = "/d"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:3901"
rpc_secret = "%s"
""" % ("ab" * 32)


class DurationTests(SynchronousTestCase):
    def test_forms(self):
        """Units, sums of terms, decimals and bare seconds."""
        for text, seconds in (("6h", 21600), ("1h30m", 5400), ("1 day 12 hours", 129600),
                              ("1.5h", 5400), ("90", 90), ("2w", 1209600), ("10min", 600),
                              ("500ms", 0.5), ("1H", 3600), ("1h, 30m", 5400),
                              ("1y", 31556952), ("1mo", 2629746), (" 6h ", 21600)):
            self.assertAlmostEqual(parse_duration(text), seconds, msg=text)

    def test_refused(self):
        """Anything else is one readable ConfigError."""
        for text in ("", "h", "6 parsecs", "-1h", "6h!", 6, "1e400h", "1e308y"):
            self.assertRaises(ConfigError, parse_duration, text)


class AutoSnapshotConfigTests(SynchronousTestCase):
    def test_absent(self):
        self.assertIsNone(parse_config(BASE, environ={}).metadata_auto_snapshot_interval)

    def test_duration_string(self):
        """``"6h"`` is six hours, in seconds."""
        config = parse_config(BASE + 'metadata_auto_snapshot_interval = "6h"', environ={})
        self.assertEqual(config.metadata_auto_snapshot_interval, 6 * 3600)

    def test_too_short_or_wrong(self):
        """As Garage: under 10 minutes, or not a duration, is refused."""
        for value in ('"5m"', '"often"', "3600"):
            with self.assertRaises(ConfigError) as raised:
                parse_config(BASE + f"metadata_auto_snapshot_interval = {value}", environ={})
            self.assertIn("metadata_auto_snapshot_interval", str(raised.exception))
