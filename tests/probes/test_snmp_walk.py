"""The multi-column walk against an agent with a small message size limit.

The transport is faked (``SnmpClient._request``): an agent that holds a few table columns and
answers tooBig when an answer would carry more varbinds than it fits, as old printers do. The
walk over real UDP is covered by tests/probes/test_recordings.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from pyasn1.type import univ

from probes.errors import SnmpError
from probes.snmp import MAX_WALK_ROWS, Cost, SnmpClient, SnmpCredentials, SnmpTarget

TABLE = {f"1.3.6.1.2.1.43.11.1.1.{col}.1.{row}": col * 100 + row
         for col in range(3, 10) for row in range(1, 6)}
COLUMNS = [f"1.3.6.1.2.1.43.11.1.1.{col}" for col in range(3, 10)]
END = "1.3.6.1.2.1.43.12.1.1.4.1.1"  # what follows the table


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


def _next(oid: str) -> tuple[str, Any]:
    later = sorted((o for o in TABLE if _key(o) > _key(oid)), key=_key)
    return (later[0], univ.Integer(TABLE[later[0]])) if later else (END, univ.Integer(0))


class SmallAgent(SnmpClient):
    """Answers GETNEXT/GETBULK from TABLE; tooBig (status 1) past ``fits`` varbinds."""

    def __init__(self, fits: int) -> None:
        super().__init__(engine=None)
        self.fits = fits
        self.requests: list[int] = []

    async def _request(self, op: str, target: SnmpTarget, oids: Sequence[str], cost: Cost,
                       max_rep: int = 0) -> tuple[int, int, list[tuple[str, Any]]]:
        cost.pdus += 1
        self.requests.append(len(oids))
        reps = 1 if op == "next" else max_rep
        if len(oids) * reps > self.fits and (op == "next" or max_rep == 1
                                              or len(oids) > self.fits):
            return 1, 0, []
        answer: list[tuple[str, Any]] = []
        cursor = list(oids)
        for _ in range(reps):
            for i, oid in enumerate(cursor):
                cursor[i], value = _next(oid)
                answer.append((cursor[i], value))
            if len(answer) + len(oids) > self.fits:
                break
        return 0, 0, answer


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_too_big_splits_the_columns(version: str) -> None:
    agent = SmallAgent(fits=3)
    target = SnmpTarget("192.0.2.1", credentials=SnmpCredentials(version=version))
    rows = await agent.walk_columns(target, COLUMNS, Cost())
    assert rows == TABLE
    assert max(agent.requests) == len(COLUMNS) and min(agent.requests) <= 3


async def test_too_big_for_one_column_is_an_error() -> None:
    agent = SmallAgent(fits=0)
    target = SnmpTarget("192.0.2.1", credentials=SnmpCredentials(version="2c"))
    with pytest.raises(SnmpError, match="error-status 1"):
        await agent.walk_columns(target, COLUMNS[:1], Cost())


class HostileAgent(SnmpClient):
    """Answers each walk step of ``oid`` with ``step(oid)``: an endless, repeating or
    backwards walk."""

    def __init__(self, step: Any) -> None:
        super().__init__(engine=None)
        self.step = step
        self.requests = 0

    async def _request(self, op: str, target: SnmpTarget, oids: Sequence[str], cost: Cost,
                       max_rep: int = 0) -> tuple[int, int, list[tuple[str, Any]]]:
        self.requests += 1
        answer: list[tuple[str, Any]] = []
        cursor = list(oids)
        for _ in range(1 if op == "next" else max_rep):
            for i, oid in enumerate(cursor):
                cursor[i] = self.step(oid)
                answer.append((cursor[i], univ.Integer(1)))
        return 0, 0, answer


def _endless(oid: str) -> str:
    head, _, last = oid.rpartition(".")
    return oid + ".1" if oid in COLUMNS else f"{head}.{int(last) + 1}"


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_a_walk_that_never_ends_stops_at_the_row_cap(version: str) -> None:
    agent = HostileAgent(_endless)
    target = SnmpTarget("192.0.2.1", credentials=SnmpCredentials(version=version))
    with pytest.raises(SnmpError, match="did not end after 2,000 rows") as caught:
        await agent.walk_columns(target, COLUMNS, Cost())
    assert caught.value.reason == "malformed_answer"
    per_request = len(COLUMNS) * (1 if version == "1" else target.max_repetitions)
    assert agent.requests == MAX_WALK_ROWS // per_request + 1


@pytest.mark.parametrize("step", [lambda oid: oid, lambda oid: oid.rpartition(".")[0] + ".0"],
                         ids=["repeated", "backwards"])
@pytest.mark.parametrize("version", ["1", "2c"])
async def test_a_walk_that_does_not_go_forward_is_malformed(step: Any, version: str) -> None:
    """Also out of the column: an OID before the one asked for is never "the column ended"."""
    agent = HostileAgent(lambda oid: _endless(oid) if oid in COLUMNS else step(oid))
    target = SnmpTarget("192.0.2.1", credentials=SnmpCredentials(version=version))
    with pytest.raises(SnmpError, match="not forward") as caught:
        await agent.walk_columns(target, COLUMNS, Cost())
    # the walk is tried twice (a table that changed under it), then it is the agent's bug
    assert caught.value.reason == "malformed_answer" and agent.requests <= 4


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_a_walk_that_stalls_once_is_walked_again(version: str) -> None:
    """A table rewritten under the walk repeats an OID once: the second walk reads it whole,
    and the poll's cost counts the retry."""
    stalls = [True]

    def step(oid: str) -> str:
        if oid in COLUMNS:
            return oid + ".1"
        head, _, last = oid.rpartition(".")
        if last == "2" and stalls:
            stalls.clear()
            return oid  # repeated once
        return f"{head}.{int(last) + 1}" if int(last) < 3 else "1.3.6.1.9.9"

    agent = HostileAgent(step)
    target = SnmpTarget("192.0.2.1", credentials=SnmpCredentials(version=version))
    cost = Cost()
    out = await agent.walk_columns(target, COLUMNS, cost)
    assert sorted(out) == sorted(f"{c}.{i}" for c in COLUMNS for i in (1, 2, 3))
    assert cost.retries == 1 and not stalls


async def test_an_error_status_snmp_does_not_define_is_malformed() -> None:
    class Odd(SmallAgent):
        async def _lean_request(self, *args: Any) -> tuple[int, int, list[tuple[str, Any]]]:
            return 2**64, 0, []

        def _uses_lean(self, target: SnmpTarget) -> bool:
            return True

    agent = Odd(fits=100)
    # the real _request checks the error-status of what its transport returned
    with pytest.raises(SnmpError, match="error-status 18446744073709551616") as caught:
        await SnmpClient._request(agent, "get", SnmpTarget("192.0.2.1"), ["1.3.6.1.2.1.1.3.0"],
                                  Cost())
    assert caught.value.reason == "malformed_answer"
