"""The fault matrix: which scenario tests exist (`matrix`, each on both layouts) and which of
them a run takes (`select`: CI's part, or all with NBCLI_FAULTS=all). The kit they use is
faultkit.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.faultkit import FULL, LAYOUTS


def matrix(rows: list[tuple[str, str, bool]]) -> Callable[[Callable[..., None]], object]:
    """Parametrize a scenario test with `site` (each layout, indirect: one site per module and
    layout) and `victim, on, may_succeed` from `rows`: (victim, the host it is killed on or ""
    for WHERE's, whether the job may still end 0). Which of them run is `select`'s choice."""

    def ids(row: tuple[str, str, bool]) -> str:
        victim, on, _ = row
        return victim.replace(" ", "_") + (f"@{on}" if on else "")

    def apply(test: Callable[..., None]) -> object:
        test = pytest.mark.parametrize("site", LAYOUTS, indirect=True)(test)
        return pytest.mark.parametrize("victim,on,may_succeed", rows,
                                       ids=[ids(r) for r in rows])(test)

    return apply


def select(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The matrix's tests that run: on all-in-one a victim that runs on every host is killed
    once (its master row); outside the full matrix only those its module's CI set names
    ("layout-victim[@host]" for every test of the module, "test[layout-victim[@host]]" for
    one). (Marks made here are read before any fixture is set up, so a
    layout none of a module's chosen scenarios needs is never started.)"""
    kept, dropped = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        params = spec.params if spec else {}
        # (this hook sees the whole session: other modules have "victim" parameters too)
        if not {"victim", "on", "site"} <= params.keys():
            kept.append(item)
            continue
        if params["site"] == "aio" and params["on"] not in ("", "master"):
            dropped.append(item)
            continue
        kept.append(item)
        ci = getattr(getattr(item, "module", None), "CI", set())
        if not FULL and spec.id not in ci and item.name not in ci:
            item.add_marker(pytest.mark.skip(reason="the full fault matrix: NBCLI_FAULTS=all"))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def scenario_name(victim: str, on: str, flow: str) -> str:
    return f"{flow}: kill {victim}" + (f" on {on}" if on else "")
