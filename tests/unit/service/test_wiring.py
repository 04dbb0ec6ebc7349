"""The node is wired through constructors (issue 24).

``service/node.py`` builds every part of a node from the parts it needs,
each given all of them by its constructor: no part is finished afterwards
by setting one of its attributes (``table.remote = ...``), so a reader can
tell from a constructor what an object needs, and no half-built object
exists. This test reads the module's syntax tree and refuses any assignment
to an attribute of anything but ``self`` itself.
"""

import ast
import inspect

from twisted.trial.unittest import SynchronousTestCase

from garage_twisted.service import node


def _targets(statement):
    """The assignment targets of ``statement`` (none if it assigns nothing)."""
    if isinstance(statement, ast.Assign):
        return list(statement.targets)
    if isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
        return [statement.target]
    if isinstance(statement, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [statement.target]
    if isinstance(statement, (ast.With, ast.AsyncWith)):
        return [item.optional_vars for item in statement.items if item.optional_vars]
    if isinstance(statement, ast.NamedExpr):
        return [statement.target]
    return []


def _is_self(expression) -> bool:
    return isinstance(expression, ast.Name) and expression.id == "self"


def foreign_attribute_assignments(source: str) -> list:
    """``[(line, target)]``: every assignment in ``source`` to an attribute
    of anything but ``self`` (``x.a = 1``, ``self.x.a = 1``, ``x.a += 1``,
    ``x.a[k] = 1``, ``setattr(x, "a", 1)``; also inside tuples, loops,
    functions and lambdas)."""
    found = []
    for statement in ast.walk(ast.parse(source)):
        pending = _targets(statement)
        while pending:
            target = pending.pop()
            if isinstance(target, (ast.Tuple, ast.List)):
                pending.extend(target.elts)
            elif isinstance(target, ast.Starred):
                pending.append(target.value)
            elif isinstance(target, ast.Attribute) and not _is_self(target.value):
                found.append((statement.lineno, ast.unparse(target)))
            elif isinstance(target, ast.Subscript):
                # ``x.a[k] = v`` changes what x.a holds: caught as x.a.
                pending.append(target.value)
        if isinstance(statement, ast.Call) and isinstance(statement.func, ast.Name) \
                and statement.func.id in ("setattr", "delattr") and statement.args \
                and not _is_self(statement.args[0]):
            found.append((statement.lineno, ast.unparse(statement)))
    return sorted(found)


class ForeignAttributeAssignmentTests(SynchronousTestCase):
    """The checker finds what it should, and only that."""

    def test_finds_assignments_to_other_objects(self):
        source = (
            "table.remote = rpc\n"
            "self.table.remote = rpc\n"
            "a.x = b.y = self.z = 1\n"
            "self.model.count += 1\n"
            "layout.sync: bool = False\n"
            "p, self.q.r = 1, 2\n"
            "for self.block.i in range(3): pass\n"
            "f = lambda: setattr(model, 'small_writer', w)\n"
            "def wire(node):\n"
            "    node.peering.rtt_of = node.rtt\n"
            "self.api.sources[:] = [m]\n"
        )
        self.assertEqual(
            [target for _, target in foreign_attribute_assignments(source)],
            ["table.remote", "self.table.remote", "a.x", "b.y", "self.model.count",
             "layout.sync", "self.q.r", "self.block.i",
             "setattr(model, 'small_writer', w)", "node.peering.rtt_of", "self.api.sources"])

    def test_own_attributes_and_locals_are_fine(self):
        source = (
            "self.table = Table(remote=rpc)\n"
            "self.count += 1\n"
            "x = y.z\n"
            "a, *b = c\n"
            "self.items[k] = v\n"
            "rows[k] = v\n"
            "with open(p) as self.f: pass\n"
            "setattr(self, 'x', 1)\n"
            "node.on_change.append(f)\n"
        )
        self.assertEqual(foreign_attribute_assignments(source), [])


class NodeWiringTests(SynchronousTestCase):
    def test_node_sets_no_attribute_of_another_object(self):
        """Every dependency of a part is a constructor argument."""
        self.assertEqual(foreign_attribute_assignments(inspect.getsource(node)), [])
