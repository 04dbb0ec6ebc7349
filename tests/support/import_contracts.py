"""An import-linter contract for what its import graph cannot see: modules
imported by name at run time (``importlib.import_module(...)``,
``__import__(...)``). The layers contract in ``setup.cfg`` holds only if no
module imports around it, so the package imports nothing dynamically.

Loaded by ``lint-imports`` through ``contract_types`` in ``setup.cfg``
(``scripts/test`` runs it with ``tests`` importable).
"""

import ast
import importlib.util

from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck
from importlinter.application import output


def dynamic_imports(path: str) -> list[tuple[int, str]]:
    """``(line, call)`` of each run-time import in the module at ``path``."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else \
            func.attr if isinstance(func, ast.Attribute) else None
        if name in ("import_module", "__import__"):
            found.append((node.lineno, name))
    return found


class NoDynamicImportsContract(Contract):
    """``type = no_dynamic_imports``; ``modules``: the packages checked."""

    modules = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        found = []
        for package in self.modules:
            for module in sorted(graph.find_descendants(package.name) | {package.name}):
                spec = importlib.util.find_spec(module)
                if spec is None or not spec.origin or not spec.origin.endswith(".py"):
                    continue
                found += [f"{module}:{line} calls {call}()"
                          for line, call in dynamic_imports(spec.origin)]
        return ContractCheck(kept=not found, metadata={"found": found})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["found"]:
            output.print_error(line)
            output.new_line()
