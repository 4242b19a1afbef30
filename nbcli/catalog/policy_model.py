"""The policy records, under their old name: they live in nbcli.model.policy now, since the
policy commands (which must not import nbcli.catalog) rebuild them from bpdbm's replies."""

from __future__ import annotations

from nbcli.model.policy import (
    ANY_GROUP,
    DAYS,
    DEFAULT_POOL,
    FORMAT_VERSION,
    MAX_COPIES,
    MAX_NAME,
    USER_TYPES,
    Client,
    Copy,
    Policy,
    Schedule,
    Weekday,
    Window,
    check_name,
    from_toml,
    to_toml,
)

__all__ = ["ANY_GROUP", "DAYS", "DEFAULT_POOL", "FORMAT_VERSION", "MAX_COPIES", "MAX_NAME",
           "USER_TYPES", "Client", "Copy", "Policy", "Schedule", "Weekday", "Window",
           "check_name", "from_toml", "to_toml"]
