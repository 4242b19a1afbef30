"""The storage registry picks a backend by the unit's type, and the media modules import one
way: dispatchers (bptm, bpbrm) -> their parts -> shared context, storage -> no backend."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from nbcli.media import bpbrm, bptm, storage
from nbcli.media.disk import DiskStorage
from nbcli.status import NbuError

MEDIA = Path(storage.__file__).parent


def test_a_unit_gets_the_backend_of_its_type() -> None:
    unit = storage.open_unit({"stype": storage.BASIC_DISK, "label": "s", "path": "/srv/stu"})
    assert isinstance(unit, DiskStorage) and unit.path == "/srv/stu"
    # restore and delete requests carry no type: a folder is a disk unit
    assert isinstance(storage.open_unit({"path": "/srv/stu"}), DiskStorage)


@pytest.mark.parametrize("stu", [{"stype": 99, "path": "/s"}, {"path": "relative"},
                                 {"label": "no path"}])
def test_a_unit_no_backend_can_use_is_status_20(stu: dict[str, object]) -> None:
    with pytest.raises(NbuError) as e:
        storage.open_unit(stu)
    assert e.value.status == 20


def test_a_missing_disk_unit_does_not_mount(tmp_path: Path) -> None:
    with pytest.raises(NbuError) as e:
        storage.open_unit({"path": str(tmp_path / "gone")}).mount()
    assert e.value.status == 83
    assert storage.open_unit({"label": "L", "path": str(tmp_path)}).mount() == \
        f"disk storage unit L ({tmp_path})"


def imports(module: Path) -> set[str]:
    """Every nbcli module `module` imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("nbcli.")}


def test_no_part_imports_its_dispatcher_and_storage_imports_no_backend() -> None:
    for path in MEDIA.glob("*.py"):
        got = imports(path)
        if path.stem not in ("bptm", "bpbrm"):
            assert not got & {"nbcli.media.bptm", "nbcli.media.bpbrm"}, path.name
    assert not {m for m in imports(MEDIA / "storage.py") if m.startswith("nbcli.media")}
    assert not imports(MEDIA / "disk.py") & {"nbcli.media.bptm_ctx", "nbcli.media.bpbrm_ctx"}


def test_the_dispatchers_table_names_real_parts_and_spares_preload_them() -> None:
    for table in (bptm.OPS, bpbrm.OPS):
        for module in table.values():
            assert (MEDIA / f"{module.rsplit('.', 1)[1]}.py").exists()
    assert "nbcli.media.disk" in storage.backend_modules()


def test_disk_storage_is_a_storage_backend() -> None:
    """mypy checks these assignments against the protocols; the test checks they run."""
    backend: storage.Backend = DiskStorage
    unit: storage.Storage = backend.from_stu({"label": "L", "path": "/srv/stu"})
    assert unit.noun == "disk storage unit"
