"""The package's imports point downward only (design section 1)."""

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

import garage_twisted

LAYERS = ["util", "db", "net", "rpc", "table", "block", "model", "api", "service", "cli"]


def _imports(path):
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:
                if alias.name == "reactor":
                    yield node.lineno, f"{node.module}.reactor"


class LayeringTests(SynchronousTestCase):
    def test_no_upward_imports(self):
        """No module imports a module of a higher layer."""
        root = os.path.dirname(garage_twisted.__file__)
        violations = []
        checked = 0
        for directory, _, files in os.walk(root):
            for name in files:
                if not name.endswith(".py"):
                    continue
                path = os.path.join(directory, name)
                rel = os.path.relpath(path, root).split(os.sep)
                if len(rel) < 2 or rel[0] not in LAYERS:
                    continue
                layer = LAYERS.index(rel[0])
                for lineno, module in _imports(path):
                    parts = module.split(".")
                    if module == "twisted.internet.reactor" and rel[:2] != ["service", "tap.py"] \
                            and rel[0] != "cli":
                        violations.append(f"{'/'.join(rel)}:{lineno} imports the global reactor")
                    if parts[0] != "garage_twisted" or len(parts) < 2:
                        continue
                    checked += 1
                    target = parts[1]
                    if target in LAYERS and LAYERS.index(target) > layer:
                        violations.append(f"{'/'.join(rel)}:{lineno} imports {module}")
        self.assertGreater(checked, 10)
        self.assertEqual(violations, [])

    def test_util_is_self_contained(self):
        """util imports nothing of the project outside util."""
        root = os.path.join(os.path.dirname(garage_twisted.__file__), "util")
        for name in os.listdir(root):
            if name.endswith(".py"):
                for _, module in _imports(os.path.join(root, name)):
                    if module.startswith("garage_twisted."):
                        self.assertTrue(module.startswith("garage_twisted.util"), module)
