"""The fault suite's fixtures and which of its matrix runs (the kit is
tests/faults/faultkit.py)."""

from __future__ import annotations

import pytest

from tests.faults.faultkit import commands_closed, site  # noqa: F401  (fixtures)
from tests.faults.matrix import select


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    select(config, items)
