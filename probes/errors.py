"""The one error tree of Fleetwatch.

Every layer raises a subclass of :class:`FleetwatchError`; each boundary (CLI, HTTP API, scheduler)
catches this tree and turns it into a message, an HTTP 4xx or a field of a reading. Anything else
that escapes is a bug and is logged with a traceback. The base lives in ``probes`` because that is
the lowest layer: ``collector`` and ``agent`` import it, ``probes`` imports neither.
"""

from __future__ import annotations


class FleetwatchError(Exception):
    """Base of every error Fleetwatch raises on purpose."""


class ProbeError(FleetwatchError):
    """A probe could not talk to a device."""


class SnmpError(ProbeError):
    """An SNMP exchange failed. ``reason`` is short and stable, e.g. ``timeout``."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class SnmpTimeout(SnmpError):
    def __init__(self, detail: str = "") -> None:
        super().__init__("timeout", detail)


class SnmpAuthError(SnmpError):
    """Wrong v3 user, key or protocol (the agent reports it via usmStats*)."""


class ConfigError(FleetwatchError):
    """Invalid configuration. ``where`` is ``file:line`` and ``key`` the dotted key path."""

    def __init__(self, message: str, *, where: str = "", key: str = "") -> None:
        self.where = where
        self.key = key
        self.message = message
        prefix = ": ".join(p for p in (where, key) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
