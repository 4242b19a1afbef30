"""The layer rules of nbcli, checked on every module's imports (docs/architecture.md).

Every top-level module or package of nbcli (a "unit": status, wire, catalog, ...) sits on one
floor of FLOORS. A module may import units of its own floor and of the floors below, never of
a floor above; RULES narrow that further. A module on no floor fails, so a new module gets its
place the day it is added, and so does an import cycle between any two modules.

The imports are read from the source with `ast`, without importing it. Every import counts,
wherever it is written: at the top, inside a function (a deferred import is still a
dependency), and under `if TYPE_CHECKING:` (a type-only import still ties the lower module to
the upper one, mypy follows it, and it is the usual way to hide a cycle instead of removing
it). So does `importlib.import_module("nbcli.x")` or `__import__("nbcli.x")` with a constant
name. `from nbcli import x` is an import of the module nbcli.x when there is one, else of the
package nbcli.

Commands are run by name, never imported: the launcher and nbcmdd look them up in
nbcli.programs.COMMANDS, the one module allowed to spell a module path of nbcli.commands.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Bottom floor first. The names are top-level modules and packages of nbcli; "__init__" is
# nbcli/__init__.py itself (__version__), "__main__" is `python -m nbcli`.
FLOORS: tuple[tuple[str, frozenset[str]], ...] = (
    ("base", frozenset({"__init__", "status", "kinds", "timefmt", "render", "model", "atomic",
                        "clock", "log", "config", "pidfile", "programs", "exclude_lists",
                        "unixaddr", "childwait"})),
    ("wire", frozenset({"wire"})),
    ("net", frozenset({"net"})),
    ("runtime", frozenset({"cli", "launcher", "procs", "jobreport", "events"})),
    ("libraries", frozenset({"catalog", "client", "media", "vtl"})),
    ("scheduling", frozenset({"sched"})),
    ("processes", frozenset({"daemons", "commands"})),
    ("tools", frozenset({"__main__", "demo", "multihost"})),
)


@dataclass(frozen=True)
class Rule:
    """What units of `importer` ("*": every unit) may not import, beyond the floor rule."""

    importer: str
    why: str
    never: frozenset[str] = frozenset()
    only: frozenset[str] | None = None  # when set, these units and its own, nothing else

    def forbids(self, unit: str, target: str) -> bool:
        if self.importer not in ("*", unit) or target == unit:
            return False
        return target in self.never or (self.only is not None and target not in self.only)


RULES: tuple[Rule, ...] = (
    # A command asks a daemon; it never opens the catalog, storage or a client's files itself.
    Rule("commands", "commands ask daemons over the wire",
         only=frozenset({"__init__", "status", "kinds", "timefmt", "render", "model", "atomic",
                         "clock", "config", "pidfile", "programs", "wire", "net", "cli",
                         "procs", "vtl", "exclude_lists", "unixaddr"})),
    # A tape library is a device: nbvtl drives it directly, as mtx and mt drive a real one.
    Rule("vtl", "a device knows nothing of NetBackup's processes",
         only=frozenset({"status", "atomic"})),
    Rule("wire", "the protocol is frames and messages, no I/O", only=frozenset({"status"})),
    # The agents meet the other hosts (and bpbrm and bptm the catalog, through bpdbm and nbjm)
    # only over the wire.
    Rule("client", "agents talk to others over the wire",
         never=frozenset({"catalog", "daemons", "media"})),
    Rule("media", "agents talk to others over the wire",
         never=frozenset({"catalog", "daemons", "client"})),
    # Files and databases that their daemons own: the catalog serves, it calls nobody.
    Rule("catalog", "the catalog calls nobody", never=frozenset({"net", "daemons", "client",
                                                                   "media"})),
    Rule("*", "commands run by name, through nbcli.programs", never=frozenset({"commands"})),
)

# The only module that may name a command module in a string (a table of console entries).
COMMAND_TABLE = "nbcli.programs"
COMMAND_PATH = re.compile(r"nbcli\.commands(\.\w+)*(:\w+)?")


@dataclass(frozen=True)
class Module:
    name: str  # nbcli.wire.frames
    path: str  # nbcli/wire/frames.py, as messages show it
    source: str

    @property
    def package(self) -> str:
        """The package a relative import starts from."""
        return self.name if self.path.endswith("__init__.py") else self.name.rpartition(".")[0]


@dataclass(frozen=True)
class Import:
    source: Module
    target: str  # a module of nbcli
    line: int
    where: str  # "", "inside a function" or "under TYPE_CHECKING"

    def at(self) -> str:
        return f"{self.source.path}:{self.line}" + (f", {self.where}" if self.where else "")


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


FLOOR_OF: dict[str, int] = {unit: i for i, (_, units) in enumerate(FLOORS) for unit in units}


def read_tree(root: Path = REPO) -> list[Module]:
    """Every module of the nbcli package under `root`."""
    modules = []
    for path in sorted((root / "nbcli").rglob("*.py")):
        rel = path.relative_to(root)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append(Module(".".join(parts), rel.as_posix(), path.read_text()))
    return modules


def _known(name: str, known: frozenset[str]) -> str | None:
    """The longest module of `known` that `name` is or lies in (None: not nbcli's)."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


class _Reader(ast.NodeVisitor):
    """Collects a module's imports of nbcli, noting those in functions or TYPE_CHECKING."""

    def __init__(self, module: Module, known: frozenset[str]) -> None:
        self.module, self.known = module, known
        self.found: list[Import] = []
        self.where: list[str] = []

    def add(self, name: str, line: int) -> None:
        target = _known(name, self.known)
        if target is not None and target != self.module.name:
            imp = Import(self.module, target, line, self.where[-1] if self.where else "")
            if imp not in self.found:  # `from x import a, b` is one import of x
                self.found.append(imp)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = node.module or ""
        if node.level:
            package = self.module.package.split(".")
            up = package[:len(package) - (node.level - 1)]
            base = ".".join(up + ([node.module] if node.module else []))
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            self.add(sub if sub in self.known else base, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self.add(arg.value, node.lineno)
        self.generic_visit(node)

    def _within(self, where: str, node: ast.AST) -> None:
        self.where.append(where)
        self.generic_visit(node)
        self.where.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._within("inside a function", node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._within("inside a function", node)

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", "")
        if name != "TYPE_CHECKING":
            self.generic_visit(node)
            return
        self.where.append("under TYPE_CHECKING")
        for child in node.body:
            self.visit(child)
        self.where.pop()
        for child in node.orelse:  # the runtime branch
            self.visit(child)


def imports(modules: Iterable[Module]) -> list[Import]:
    """Every import of an nbcli module by one of `modules`."""
    modules = list(modules)
    known = frozenset(m.name for m in modules)
    found: list[Import] = []
    for module in modules:
        reader = _Reader(module, known)
        reader.visit(ast.parse(module.source, module.path))
        found.extend(reader.found)
    return found


def unclassified(modules: Iterable[Module]) -> list[str]:
    return [f"{m.path}: {m.name} is on no floor: give `{unit_of(m.name)}` one in FLOORS "
            f"(tests/unit/test_layers.py) and in docs/architecture.md"
            for m in modules if unit_of(m.name) not in FLOOR_OF]


def _broken(imp: Import) -> Iterator[str]:
    unit, target = unit_of(imp.source.name), unit_of(imp.target)
    if unit not in FLOOR_OF or target not in FLOOR_OF:
        return  # unclassified() names those
    if FLOOR_OF[target] > FLOOR_OF[unit]:
        yield (f"upward, from floor {FLOORS[FLOOR_OF[unit]][0]} "
               f"to floor {FLOORS[FLOOR_OF[target]][0]}")
    for rule in RULES:
        if rule.forbids(unit, target):
            yield f"{unit} may not import {target} ({rule.why})"


def violations(modules: Iterable[Module]) -> list[str]:
    """Each import that breaks the floors or a rule, as "path:line: what and why"."""
    modules = list(modules)
    found = []
    for imp in imports(modules):
        broken = list(_broken(imp))
        if broken:
            found.append(f"{imp.at()}: {imp.source.name} imports {imp.target}: "
                         + "; ".join(broken))
    for m in modules:
        if m.name == COMMAND_TABLE:
            continue
        for node in ast.walk(ast.parse(m.source, m.path)):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and COMMAND_PATH.fullmatch(node.value)):
                found.append(f"{m.path}:{node.lineno}: {m.name} names {node.value!r}; only "
                             f"{COMMAND_TABLE} names command modules (run them by name)")
    return found


def _graph(found: Iterable[Import]) -> dict[str, dict[str, Import]]:
    graph: dict[str, dict[str, Import]] = {}
    for imp in found:
        graph.setdefault(imp.source.name, {}).setdefault(imp.target, imp)
    return graph


def _components(graph: Mapping[str, Mapping[str, Import]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, {}))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        members.append(top)
                        if top == node:
                            break
                    if len(members) > 1:
                        result.append(sorted(members))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.get(child, {})))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return result


def _a_cycle(graph: Mapping[str, Mapping[str, Import]], members: list[str]) -> list[Import]:
    """One shortest cycle through members[0], staying inside the component."""
    inside = set(members)
    start = members[0]
    came: dict[str, Import] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target, imp in sorted(graph.get(node, {}).items()):
                if target == start:
                    path = [imp]
                    while path[0].source.name != start:
                        path.insert(0, came[path[0].source.name])
                    return path
                if target in inside and target not in came:
                    came[target] = imp
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def cycles(modules: Iterable[Module]) -> list[str]:
    """Each import cycle, as its modules and the import lines that close it."""
    graph = _graph(imports(modules))
    found = []
    for members in _components(graph):
        steps = " -> ".join(f"{imp.target} ({imp.at()})"
                            for imp in _a_cycle(graph, members))
        found.append(f"cycle among {', '.join(members)}: {members[0]} -> {steps}")
    return found


def _fail_with(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{len(problems)} {what}:\n" + "\n".join(problems), pytrace=False)


# -- nbcli itself ------------------------------------------------------------------------------

def test_every_module_is_on_a_floor() -> None:
    _fail_with(unclassified(read_tree()), "modules on no floor")


def test_no_import_breaks_a_layer_rule() -> None:
    _fail_with(violations(read_tree()), "imports break the layer rules")


def test_no_import_cycles() -> None:
    _fail_with(cycles(read_tree()), "import cycles")


def test_each_unit_is_on_one_floor_and_the_rules_name_only_those() -> None:
    listed = [unit for _, units in FLOORS for unit in units]
    assert len(listed) == len(set(listed))
    named = {unit for rule in RULES for unit in (rule.never | (rule.only or frozenset()))}
    assert {rule.importer for rule in RULES} | named <= set(listed) | {"*"}


def test_the_architecture_doc_names_every_unit_and_floor() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    missing = [name for floor, units in FLOORS for name in (floor, *units)
               if not re.search(rf"\b{re.escape(name)}\b", doc)]
    assert missing == []


# -- the checker itself, on made-up modules ----------------------------------------------------

def _mod(name: str, source: str) -> Module:
    path = name.replace(".", "/") + ".py"
    return Module(name, path, source)


def test_checker_names_file_and_line_of_a_forbidden_import() -> None:
    tree = [_mod("nbcli.catalog", ""),
            _mod("nbcli.wire.frames", "import os\n\n\ndef f() -> None:\n"
                                      "    from nbcli import catalog\n")]
    assert violations(tree) == [
        "nbcli/wire/frames.py:5, inside a function: nbcli.wire.frames imports nbcli.catalog: "
        "upward, from floor wire to floor libraries; "
        "wire may not import catalog (the protocol is frames and messages, no I/O)"]


def test_checker_counts_type_checking_relative_and_by_name_imports() -> None:
    tree = [_mod("nbcli.catalog.images", ""), _mod("nbcli.daemons.base", ""),
            _mod("nbcli.media.bptm", "from typing import TYPE_CHECKING\n"
                                     "if TYPE_CHECKING:\n    from ..catalog import images\n"
                                     "else:\n    images = None\n"
                                     "import importlib\n"
                                     "importlib.import_module('nbcli.daemons.base')\n")]
    assert violations(tree) == [
        "nbcli/media/bptm.py:3, under TYPE_CHECKING: nbcli.media.bptm imports "
        "nbcli.catalog.images: media may not import catalog (agents talk to others over the wire)",
        "nbcli/media/bptm.py:7: nbcli.media.bptm imports nbcli.daemons.base: upward, from floor "
        "libraries to floor processes; "
        "media may not import daemons (agents talk to others over the wire)"]


def test_checker_allows_what_the_rules_allow() -> None:
    tree = [_mod("nbcli.net.client", "from nbcli import status\n"),
            _mod("nbcli.status", ""),
            _mod("nbcli.commands.bpps", "from nbcli.net import client\nimport nbcli.status\n"),
            _mod("nbcli.programs", "COMMANDS = {'bpps': 'nbcli.commands.bpps:main'}\n")]
    assert violations(tree) == [] and cycles(tree) == [] and unclassified(tree) == []


def test_checker_finds_commands_named_outside_the_table() -> None:
    tree = [_mod("nbcli.commands.bpps", ""),
            _mod("nbcli.daemons.bpcd", "RUN = 'nbcli.commands.bpps:main'\n")]
    assert violations(tree) == [
        "nbcli/daemons/bpcd.py:1: nbcli.daemons.bpcd names 'nbcli.commands.bpps:main'; only "
        "nbcli.programs names command modules (run them by name)"]


def test_checker_finds_a_module_on_no_floor() -> None:
    assert unclassified([_mod("nbcli.status", ""), _mod("nbcli.gadget", "")]) == [
        "nbcli/gadget.py: nbcli.gadget is on no floor: give `gadget` one in FLOORS "
        "(tests/unit/test_layers.py) and in docs/architecture.md"]


def test_checker_finds_a_cycle_and_the_lines_that_close_it() -> None:
    tree = [_mod("nbcli.media.bpbrm", "from nbcli.media import bpbrm_backup\n"),
            _mod("nbcli.media.bpbrm_backup", "import os\nfrom nbcli.media.bpbrm import Ctx\n"),
            _mod("nbcli.media.disk", "from nbcli.media import bpbrm\n")]
    assert cycles(tree) == [
        "cycle among nbcli.media.bpbrm, nbcli.media.bpbrm_backup: nbcli.media.bpbrm -> "
        "nbcli.media.bpbrm_backup (nbcli/media/bpbrm.py:1) -> "
        "nbcli.media.bpbrm (nbcli/media/bpbrm_backup.py:2)"]
