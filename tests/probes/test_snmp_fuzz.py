"""The printer probe against a fuzzing agent (tests/probes/fuzzresponder.py) serving a jammed
printer (hand-made recording: jammed bit, hrDeviceStatus down, a critical jam alert).

Whatever the agent sends: no exception and no traceback (not even one asyncio logs from a
callback), no poll past its deadline plus a second, ``malformed_answer`` for answers that are
never readable, and never a reading healthier than the jam: a poll that ends ``ok`` reads
``critical``, any other ends ``unknown`` or ``unreachable``. Seeded and bounded: the same
trials every run. Most trials go through the probe API (lean path and pysnmp's engine, v1 and
v2c); a sample runs ``fleetwatch check`` as a subprocess (the real path, exit codes).
bench/snmp_fuzz.py runs more.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from probes.model import Reading
from probes.printer import PrinterProbe, poll_deadline
from probes.snmp import SnmpClient, SnmpCredentials, SnmpTarget
from tests.probes.fuzzresponder import ALWAYS_MALFORMED, MODES, WALK_MODES, FuzzAgent

# (deadline 6 s: a garbled answer ends its attempt at once on the lean path, so the timeout only
# costs where nothing readable comes back; a loaded machine still meets the deadline)
TIMEOUT, RETRIES = 1.0, 1
SLACK_S = 1.0  # "no run past the deadline plus a second"
# The subprocess also starts an interpreter and imports pysnmp: on this 2-core machine shared by
# several test runs that took up to several seconds. Its poll is held to the deadline by the
# poll's own duration (cost.duration_s); the wall clock only to this looser bound.
STARTUP_S = 20.0


def trials(seeds: int, rates: tuple[float, ...]) -> list[tuple[str, float, str, int]]:
    """(mode, rate, version, seed); an endless walk costs 2,000 rows, so fewer of those."""
    out = []
    for mode in MODES:
        for rate in rates:
            for version in ("1", "2c"):
                count = 1 if (mode == "endless" and rate == 1.0) else seeds
                out += [(mode, rate, version, seed) for seed in range(count)]
    return out


def judge(mode: str, rate: float, reading: Reading, seconds: float, deadline: float) -> None:
    what = f"{mode} rate={rate}: {reading.result} {reading.status} {reading.error}"
    assert seconds <= deadline + SLACK_S, f"{what}: {seconds:.2f} s"
    if reading.result == "ok":
        assert reading.status == "critical" and "jammed" in (reading.faults or ()), what
    else:
        assert reading.status in {"unknown", "unreachable"}, what
    if mode in {"clean", "duplicate"}:
        assert reading.result == "ok", what
    if rate == 1.0 and mode in {"repeat", "backwards", *ALWAYS_MALFORMED}:
        assert reading.result == "malformed_answer", what
    if rate == 1.0 and mode == "endless":
        assert reading.result in {"malformed_answer", "timeout"}, what


@pytest.fixture()
async def fuzz() -> AsyncIterator[tuple[FuzzAgent, int]]:
    agent, port = await FuzzAgent.start()
    try:
        yield agent, port
    finally:
        agent.close()


@pytest.fixture()
async def loop_errors() -> AsyncIterator[list[dict[str, Any]]]:
    """What the event loop's exception handler receives meanwhile (a traceback on stderr)."""
    loop = asyncio.get_running_loop()
    seen: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: seen.append(context))
    try:
        yield seen
    finally:
        loop.set_exception_handler(previous)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "engine"])
async def test_fuzzed_agent_through_the_probe(fuzz: tuple[FuzzAgent, int],
                                              loop_errors: list[dict[str, Any]],
                                              lean: bool) -> None:
    agent, port = fuzz
    client = await SnmpClient.create(lean=lean)
    results: dict[str, int] = {}
    try:
        agent.configure("clean", 0)  # the first poll of an engine also builds its caches
        await PrinterProbe(client).collect(SnmpTarget("127.0.0.1", port))
        # pysnmp's engine waits out the timeout of an attempt answered with garbage: fewer
        for mode, rate, version, seed in (trials(4, (1.0, 0.3)) if lean else
                                          trials(1, (1.0,))):
            agent.configure(mode, seed, rate)
            target = SnmpTarget("127.0.0.1", port, SnmpCredentials(version=version),
                                timeout=TIMEOUT, retries=RETRIES)
            started = time.perf_counter()
            reading = await PrinterProbe(client).collect(target)
            judge(mode, rate, reading, time.perf_counter() - started, poll_deadline(target))
            results[reading.result] = results.get(reading.result, 0) + 1
    finally:
        client.close()
        await asyncio.sleep(0.2)  # late duplicates land on a closed client
    assert not loop_errors, loop_errors[:3]
    # the fuzzer does reach every outcome it is meant to
    assert {"ok", "malformed_answer", "parse_error"} <= set(results), results


CHECK_SAMPLE = [("duplicate", 1.0, "2c"), ("endless", 1.0, "2c"), ("repeat", 1.0, "1"),
                ("wrong_id", 1.0, "2c"), ("wrong_pdu", 1.0, "1"), ("truncate", 1.0, "2c"),
                ("wrong_type", 1.0, "1"), ("huge_int", 1.0, "2c")]


async def test_fuzzed_agent_through_check(fuzz: tuple[FuzzAgent, int]) -> None:
    """``fleetwatch check --json`` as a subprocess: no traceback, exit 3 unless the poll read
    the jam (exit 2), the poll within its deadline."""
    agent, port = fuzz
    target = SnmpTarget("127.0.0.1", port, timeout=TIMEOUT, retries=RETRIES)
    deadline = poll_deadline(target)
    for seed, (mode, rate, version) in enumerate(CHECK_SAMPLE):
        agent.configure(mode, seed, rate)
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "collector.cli", "check", "127.0.0.1", "--port", str(port),
            "--snmp-version", version, "--timeout", str(TIMEOUT), "--retries", str(RETRIES),
            "--json", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), deadline + STARTUP_S)
        wall = time.perf_counter() - started
        assert b"Traceback" not in err and not err.strip(), err.decode()
        data = json.loads(out)
        reading = Reading(device=data["device"], host=data["host"], probe=data["probe"],
                          result=data["result"], status=data["status"], error=data["error"],
                          faults=frozenset(data["faults"] or ()))
        judge(mode, rate, reading, data["cost"]["duration_s"], deadline)
        assert wall <= deadline + STARTUP_S
        assert proc.returncode == (2 if data["result"] == "ok" else 3), (mode, data)


@pytest.mark.parametrize("version", ["1", "2c"])
@pytest.mark.parametrize("lean", [True, False], ids=["lean", "engine"])
@pytest.mark.parametrize(("mode", "result"), [
    ("clean", "ok"), ("duplicate", "ok"), ("endless", "malformed_answer"),
    ("repeat", "malformed_answer"), ("backwards", "malformed_answer"),
    ("wrong_id", "malformed_answer"), ("wrong_pdu", "malformed_answer"),
    ("truncate", "malformed_answer"),
])
async def test_each_kind_of_garbage(fuzz: tuple[FuzzAgent, int],
                                    loop_errors: list[dict[str, Any]], mode: str, result: str,
                                    lean: bool, version: str) -> None:
    """One kind of garbage in every answer: its own result, with a reason; never a traceback.
    The timeout is generous so that the row cap, not the deadline, mostly ends the endless walk."""
    agent, port = fuzz
    agent.configure(mode, 7, 1.0)
    client = await SnmpClient.create(lean=lean)
    try:
        target = SnmpTarget("127.0.0.1", port, SnmpCredentials(version=version),
                            timeout=2.0 if mode == "endless" else TIMEOUT, retries=RETRIES)
        reading = await PrinterProbe(client).collect(target)
    finally:
        client.close()
        await asyncio.sleep(0.1)
    if mode == "endless" and reading.result == "timeout":
        # v1 walks one row per column per request; on a loaded machine the deadline may come
        # before the row cap (tests/probes/test_snmp_walk.py tests the cap itself)
        assert "the poll took longer than" in (reading.error or "")
    else:
        assert reading.result == result, reading.error
    if result == "ok":
        assert reading.status == "critical" and reading.error is None
    else:
        assert reading.status == "unreachable" and reading.error
        assert reading.error.startswith(f"{result}:")
    if mode in WALK_MODES and reading.result == "malformed_answer":
        assert "walk" in (reading.error or "")
    if mode in ALWAYS_MALFORMED:
        assert "answered, but" in (reading.error or "")
    assert not loop_errors, loop_errors[:3]


@pytest.mark.parametrize("version", ["1", "2c"])
@pytest.mark.parametrize("mode", ["wrong_type", "huge_int", "oversized"])
async def test_garbled_values_never_read_healthier(fuzz: tuple[FuzzAgent, int], mode: str,
                                                    version: str) -> None:
    """Values garbled in every answer, over many seeds: each poll reads the jam (critical), or
    ends parse_error/unknown or malformed_answer; at least one seed gives parse_error."""
    agent, port = fuzz
    client = await SnmpClient.create()
    seen = set()
    try:
        for seed in range(12):
            agent.configure(mode, seed, 1.0)
            target = SnmpTarget("127.0.0.1", port, SnmpCredentials(version=version),
                                timeout=TIMEOUT, retries=RETRIES)
            reading = await PrinterProbe(client).collect(target)
            judge(mode, 1.0, reading, 0.0, 1.0)
            if reading.result == "parse_error":
                assert reading.status == "unknown" and reading.reachable
                assert reading.problems[0] in (reading.error or "")
            seen.add(reading.result)
    finally:
        client.close()
    assert "parse_error" in seen or mode == "oversized", seen


@pytest.mark.parametrize("tag", [0xA0, 0xA3, 0xA4, 0xA7, 0xA8],
                         ids=["get", "set", "v1trap", "v2trap", "report"])
@pytest.mark.parametrize("lean", [True, False], ids=["lean", "engine"])
async def test_every_pdu_but_a_response_is_malformed(fuzz: tuple[FuzzAgent, int], tag: int,
                                                     lean: bool) -> None:
    """pysnmp's engine takes a Report for an answer (a response-class PDU in SNMPv3): over
    v2c the client refuses it before the engine sees it."""
    agent, port = fuzz
    agent.configure("wrong_pdu", 0, 1.0)
    agent.pdu_tags = (tag,)
    client = await SnmpClient.create(lean=lean)
    try:
        reading = await PrinterProbe(client).collect(
            SnmpTarget("127.0.0.1", port, timeout=TIMEOUT, retries=RETRIES))
    finally:
        client.close()
        agent.pdu_tags = FuzzAgent.pdu_tags
    assert reading.result == "malformed_answer", reading.error
