"""The import contracts in ``setup.cfg`` (layers, the global reactor, no
run-time imports) are kept by the package, and each is broken by a planted
violation in every form an import can take: absolute, of a package from its
parent, relative, and by name at run time.

Each case runs ``lint-imports`` on a copy of the installed package with the
violation written into it (about a second each)."""

import os
import shutil
import subprocess
import sys
import tempfile

from twisted.trial.unittest import TestCase

import garage_twisted
import tests

LINT = os.path.join(os.path.dirname(sys.executable), "lint-imports")
CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(tests.__file__))),
                      "setup.cfg")

LAYERS = "Each layer imports only the layers below it"
REACTOR = "Only service/tap.py and the CLI import the global reactor"
DYNAMIC = "No module is imported by name at run time"

# (where, what): one violation each, and the contract it breaks.
PLANTED = {
    "absolute": ("db", "from garage_twisted.api.s3 import errors\n", LAYERS),
    "package from its parent": ("net", "from garage_twisted import model\n", LAYERS),
    "relative": ("table", "from ..api.s3 import errors\n", LAYERS),
    "module import": ("util", "import garage_twisted.rpc.ring\n", LAYERS),
    "by name": ("rpc", "import importlib\n\nimportlib.import_module('garage_twisted.api')\n",
                DYNAMIC),
    "by __import__": ("model", "__import__('garage_twisted.service')\n", DYNAMIC),
    "reactor, from": ("model", "from twisted.internet import reactor\n", REACTOR),
    "reactor, module": ("api", "import twisted.internet.reactor\n", REACTOR),
    "reactor, in service": ("service", "from twisted.internet import reactor\n", REACTOR),
}


class ImportContractTests(TestCase):
    def lint(self, plant=None) -> tuple[int, str]:
        """Run lint-imports on a copy of the package, with ``(layer, code)``
        written into ``garage_twisted/<layer>/planted.py``."""
        with tempfile.TemporaryDirectory() as root:
            copy = os.path.join(root, "garage_twisted")
            shutil.copytree(os.path.dirname(garage_twisted.__file__), copy,
                            ignore=shutil.ignore_patterns("__pycache__"))
            if plant is not None:
                layer, code = plant
                with open(os.path.join(copy, layer, "planted.py"), "w") as f:
                    f.write(code)
            tests_root = os.path.dirname(os.path.dirname(os.path.abspath(tests.__file__)))
            env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, tests_root]))
            done = subprocess.run([LINT, CONFIG, "--no-cache"], cwd=root, env=env,
                                  capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr

    def test_the_package_keeps_every_contract(self):
        code, out = self.lint()
        self.assertEqual(code, 0, out)
        for name in (LAYERS, REACTOR, DYNAMIC):
            self.assertIn(f"{name} KEPT", out)

    def test_each_planted_form_breaks_its_contract(self):
        for form, (layer, code, contract) in PLANTED.items():
            status, out = self.lint((layer, code))
            self.assertNotEqual(status, 0, f"{form}: not caught\n{out}")
            self.assertIn(f"{contract} BROKEN", out, form)
            self.assertIn(f"garage_twisted.{layer}.planted", out, form)
