"""Shared fixtures: real snmpsim, influxd and victoria-metrics processes on loopback."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.demo import Influxd, Snmpsim, VictoriaMetrics

ROOT = Path(__file__).resolve().parents[1]
HANDMADE = ROOT / "tests" / "fixtures" / "recordings"
SHARED_DEVICES = Path(
    os.environ.get("FLEETWATCH_SHARED_DEVICES", ROOT.parent / "shared" / "devices")
)
V3_USER = {"user": "fwtest", "auth-key": "fleetwatch-auth", "auth-proto": "SHA",
           "priv-key": "fleetwatch-priv", "priv-proto": "AES"}


def shared_devices_available() -> bool:
    return (SHARED_DEVICES / "expected").is_dir()


def shared_device_names() -> list[str]:
    if not shared_devices_available():
        return []
    return sorted(p.stem for p in (SHARED_DEVICES / "expected").glob("*.json"))


def expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SHARED_DEVICES / "expected" / f"{name}.json").read_text())
    return data


# A test whose fixtures (transitively) include one of these starts real services and is marked
# `service` at collection, so `pytest -m "not service"` is the quick loop. A local fixture that
# starts a service itself (its own Snmpsim, a collector subprocess) requests `real_service`.
SERVICE_FIXTURES = frozenset({"snmpsim", "influxd", "victoria", "real_service"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.service)


@pytest.fixture(scope="session")
def real_service() -> None:
    """Requested by fixtures that start a real service of their own; see SERVICE_FIXTURES."""


requires_shared = pytest.mark.skipif(
    not shared_devices_available(),
    reason=f"shared device recordings not found at {SHARED_DEVICES} "
    "(set FLEETWATCH_SHARED_DEVICES)",
)


@pytest.fixture(scope="session")
def snmpsim() -> Iterator[Snmpsim]:
    """One snmpsim serving the shared recordings (when present) and our hand-made ones,
    with an SNMPv3 user (authPriv SHA/AES) whose context name selects the recording."""
    sources = [HANDMADE]
    if shared_devices_available():
        sources.insert(0, SHARED_DEVICES)
    sim = Snmpsim(sources, v3_users=[V3_USER]).start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture(scope="session")
def influxd() -> Iterator[Influxd]:
    server = Influxd().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def victoria() -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics().start()
    try:
        yield server
    finally:
        server.stop()
