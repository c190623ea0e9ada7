"""The probe registry: every kind is a class keeping the Probe protocol, its settings model
validates its keys, and the registry's probes poll real local servers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from pydantic import ValidationError

from collector.demo import free_port
from probes.base import ProbeSettings, Resources, Target
from probes.model import RESULTS
from probes.registry import KINDS, PROBES, probe_settings
from probes.snmp import SnmpClient


def test_every_kind_is_registered_under_its_own_name() -> None:
    assert KINDS == ("snmp_printer", "ping", "tcp", "http")
    for kind, cls in PROBES.items():
        assert cls.kind == kind
        settings = probe_settings(kind)
        assert isinstance(settings, cls.settings) and isinstance(settings, ProbeSettings)
        assert settings.kind == kind and settings.interval == 60.0


@pytest.mark.parametrize(("kind", "values"), [
    ("ping", {"port": 80}),  # a key of another kind
    ("tcp", {"port": 0}),
    ("http", {"expect_status": 700}),
    ("snmp_printer", {"full_every": 0}),
    ("snmp_printer", {"interval": -1}),
])
def test_settings_refuse_bad_values(kind: str, values: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        probe_settings(kind, **values)


def test_settings_are_frozen_and_print_their_kind() -> None:
    s = probe_settings("tcp", port=22)
    with pytest.raises(ValidationError):
        s.port = 23  # type: ignore[misc]
    assert "kind='tcp'" in repr(s)


def test_unknown_kind() -> None:
    with pytest.raises(KeyError):
        probe_settings("telnet")


async def test_registry_probes_poll_real_servers() -> None:
    """tcp and http through the registry's classes, against a real listener on loopback."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = await SnmpClient.create()
    try:
        async with server, aiohttp.ClientSession() as http:
            resources = Resources(client, http)
            tcp = PROBES["tcp"](resources)
            ok = await tcp.collect(Target("d", "127.0.0.1", 161, probe_settings("tcp", port=port)))
            closed = await tcp.collect(Target("d", "127.0.0.1", free_port(),
                                              probe_settings("tcp", timeout=1.0)))
            web = PROBES["http"](resources)
            gone = await web.collect(Target("d", "127.0.0.1", 80, probe_settings(
                "http", url=f"http://127.0.0.1:{free_port()}/", timeout=1.0)))
    finally:
        client.close()
    assert (ok.result, ok.device, ok.probe) == ("ok", "d", "tcp") and ok.reachable
    assert closed.result == "refused" and not closed.reachable  # the device's port, no setting
    assert gone.result == "connect_failed"
    assert {ok.result, closed.result, gone.result} <= set(RESULTS)
