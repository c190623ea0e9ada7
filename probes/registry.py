"""Every probe kind, by the name used in YAML (``kind: snmp_printer``).

The collector's scheduler creates one probe object per kind in use and hands it every target of
that kind; its config validates each probe's keys with the kind's settings model. Adding a kind
is one class (see :mod:`probes.base`) and one line here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from probes.base import Probe, ProbeSettings
from probes.connectivity import Http, Ping, Tcp
from probes.printer import SnmpPrinter

PROBES: Mapping[str, type[Probe]] = MappingProxyType(
    {cls.kind: cls for cls in (SnmpPrinter, Ping, Tcp, Http)})
KINDS: tuple[str, ...] = tuple(PROBES)


def probe_settings(kind: str, **values: Any) -> ProbeSettings:
    """The settings of a probe of ``kind`` (KeyError for an unknown kind; pydantic's
    ValidationError for a bad value)."""
    return PROBES[kind].settings(kind=kind, **values)
