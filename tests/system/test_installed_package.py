"""The suite tests the installed package, as users get it: ``scripts/test``
installs it (not linked to the source) and runs trial from a directory where
only ``tests`` is importable. So dropping a package or the twisted plugin
dropin from ``setup.py`` fails here."""

import os
import subprocess
import sys
import tempfile

from twisted.trial.unittest import SkipTest, TestCase

import garage_twisted


class InstalledPackageTests(TestCase):
    def help_of(self, script: str) -> str:
        """``script --help`` of the installed package, run outside the tree
        with nothing on PYTHONPATH."""
        path = os.path.join(os.path.dirname(sys.executable), script)
        if not os.path.exists(path):
            raise SkipTest(f"no {script} beside {sys.executable}")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        with tempfile.TemporaryDirectory() as elsewhere:
            out = subprocess.run([path, "--help"], cwd=elsewhere, env=env,
                                 capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return out.stdout

    def test_the_suite_imports_the_installed_package(self):
        source = os.environ.get("GARAGE_TWISTED_SOURCE")
        if not source:
            raise SkipTest("not run by scripts/test (GARAGE_TWISTED_SOURCE unset)")
        here = os.path.dirname(os.path.realpath(garage_twisted.__file__))
        self.assertNotEqual(here, os.path.join(os.path.realpath(source), "garage_twisted"),
                            "garage_twisted imported from the source tree")
        self.assertIn("site-packages", here.split(os.sep))

    def test_twistd_lists_garage_from_the_installed_dropin(self):
        out = self.help_of("twistd")
        commands = [line.split()[0] for line in out.split("Commands:")[1].splitlines()
                    if line.strip()]
        self.assertIn("garage", commands)

    def test_the_garage_command_runs_from_the_installed_package(self):
        self.assertIn("bucket", self.help_of("garage"))
