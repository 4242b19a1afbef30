"""nbcli.vtl sits below media and commands: it may import only nbcli.status, nbcli.atomic and
its own modules, so that bptm's tape backend and the nbvtl command can both use it."""

from __future__ import annotations

import ast
from pathlib import Path

VTL = Path(__file__).resolve().parents[2] / "nbcli" / "vtl"
ALLOWED = {"nbcli.status", "nbcli.atomic"}


def nbcli_imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "nbcli":
                names.update(f"nbcli.{a.name}" for a in node.names)
            elif node.module.startswith("nbcli."):
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("nbcli"))
    return names


def test_vtl_imports_only_status_atomic_and_itself() -> None:
    """Every module of nbcli/vtl, read with ast."""
    modules = sorted(VTL.glob("*.py"))
    assert len(modules) >= 8
    for path in modules:
        bad = {m for m in nbcli_imports(path) if m not in ALLOWED and
               not m.startswith("nbcli.vtl")}
        assert not bad, f"{path.name} imports {sorted(bad)}"
