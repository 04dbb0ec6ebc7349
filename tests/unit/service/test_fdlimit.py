"""Raising the soft RLIMIT_NOFILE to the hard limit (service/fdlimit.py)."""

import resource

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.service.fdlimit import open_files_limit, raise_open_files_limit


class RaiseOpenFilesLimitTests(SynchronousTestCase):
    def setUp(self):
        self.saved = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, self.saved)

    def test_soft_limit_goes_up_to_the_hard_one(self):
        """A soft limit below the hard one is raised to it; the figures
        before and after are returned."""
        _, hard = self.saved
        if hard == resource.RLIM_INFINITY or hard < 256:
            raise self.skipTest(f"hard limit {hard}: nothing to lower the soft one to")
        resource.setrlimit(resource.RLIMIT_NOFILE, (200, hard))
        self.assertEqual(raise_open_files_limit(), (200, hard))
        self.assertEqual(open_files_limit(), hard)
        self.assertEqual(resource.getrlimit(resource.RLIMIT_NOFILE), (hard, hard))

    def test_nothing_to_raise(self):
        """At the hard limit already, nothing changes."""
        _, hard = self.saved
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        before, after = raise_open_files_limit()
        self.assertEqual(before, after)
