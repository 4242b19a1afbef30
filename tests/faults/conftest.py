"""The fault suite's fixtures (the kit is tests/faults/faultkit.py)."""

from tests.faults.faultkit import site  # noqa: F401  (a module-scoped fixture)
