"""The lean v1/v2c transport over real UDP on loopback, against a tiny asyncio agent that can
answer late, twice, with the wrong request-id, from the wrong address, tooBig, or noSuchName.
The agent decodes requests and encodes answers with pysnmp's proto API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pyasn1.codec.ber import decoder
from pysnmp.proto import api

from bench.ber_fuzz import encode_response
from probes.errors import SnmpError, SnmpTimeout
from probes.secret import Secret
from probes.snmp import Cost, SnmpClient, SnmpCredentials, SnmpTarget
from tests.waiting import async_wait_until

TABLE = {f"1.3.6.1.2.1.43.11.1.1.{col}.1.{row}": col * 100 + row
         for col in (6, 8, 9) for row in (1, 2, 3)}
TABLE["1.3.6.1.2.1.1.3.0"] = 4242
COLUMNS = ["1.3.6.1.2.1.43.11.1.1.6", "1.3.6.1.2.1.43.11.1.1.8", "1.3.6.1.2.1.43.11.1.1.9"]


def _key(oid: str) -> tuple[int, ...]:
    return tuple(int(p) for p in oid.split("."))


@dataclass
class Agent(asyncio.DatagramProtocol):
    """Answers GET/GETNEXT/GETBULK from TABLE. ``plan(n)`` → what to do with request n:
    "ok", "drop", "late:SECONDS", "twice", "wrong_id", "elsewhere", "wrong_community",
    "long_length" (a valid answer the strict reader refuses)."""

    plan: Callable[[int], str] = lambda n: "ok"
    fits: int = 1000  # tooBig past this many varbinds
    requests: list[tuple[str, int]] = field(default_factory=list)  # (PDU kind, varbind count)
    transport: asyncio.DatagramTransport | None = None
    other: asyncio.DatagramTransport | None = None  # another socket, for "elsewhere"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        version = int(api.decodeMessageVersion(data))
        mod: Any = api.PROTOCOL_MODULES[version]
        msg, _ = decoder.decode(data, asn1Spec=mod.Message())
        pdu = mod.apiMessage.get_pdu(msg)
        kind = {0: "get", 1: "next", 5: "bulk"}[int(pdu.tagSet[-1].tagId)]
        oids = [str(o) for o, _ in mod.apiPDU.get_varbinds(pdu)]
        self.requests.append((kind, len(oids)))
        what = self.plan(len(self.requests))
        rid = int(mod.apiPDU.get_request_id(pdu))
        status, index, answer = self.answer(version, kind, oids, pdu)
        community = bytes(mod.apiMessage.get_community(msg))
        if what == "wrong_community":
            community += b"x"
        reply = encode_response(version, community, rid ^ 1 if what == "wrong_id" else rid,
                                status, index, answer)
        loop = asyncio.get_running_loop()
        assert self.transport is not None
        if what == "drop":
            return
        if what.startswith("late:"):
            loop.call_later(float(what[5:]), self.transport.sendto, reply, addr)
        elif what == "elsewhere":
            assert self.other is not None
            self.other.sendto(reply, addr)
        elif what == "long_length":  # 4 length octets: refused by the strict reader only
            assert reply[1] < 0x80
            self.transport.sendto(b"\x30\x84\x00\x00\x00" + reply[1:], addr)
        else:
            self.transport.sendto(reply, addr)
            if what == "twice":
                self.transport.sendto(reply, addr)

    def answer(self, version: int, kind: str, oids: list[str], pdu: Any
               ) -> tuple[int, int, list[tuple[str, Any]]]:
        mod: Any = api.PROTOCOL_MODULES[version]
        reps = int(mod.apiBulkPDU.get_max_repetitions(pdu)) if kind == "bulk" else 1
        if len(oids) * reps > self.fits:
            return 1, 0, [(o, mod.null) for o in oids]
        if kind == "get":
            for position, oid in enumerate(oids):
                if oid not in TABLE and version == 0:
                    return 2, position + 1, [(o, mod.null) for o in oids]
            return 0, 0, [(o, mod.Integer(TABLE[o]) if o in TABLE else api.v2c.NoSuchObject(""))
                          for o in oids]
        out: list[tuple[str, Any]] = []
        cursor = list(oids)
        for _ in range(reps):
            for position, oid in enumerate(cursor):
                later = sorted((o for o in TABLE if _key(o) > _key(oid)), key=_key)
                if not later:
                    if version == 0:
                        return 2, position + 1, [(o, mod.null) for o in oids]
                    out.append((oid, api.v2c.EndOfMibView("")))
                    continue
                cursor[position] = later[0]
                out.append((later[0], mod.Integer(TABLE[later[0]])))
        return 0, 0, out


@pytest.fixture()
async def agent() -> AsyncIterator[tuple[Agent, int]]:
    loop = asyncio.get_running_loop()
    proto = Agent()
    transport, _ = await loop.create_datagram_endpoint(lambda: proto,
                                                       local_addr=("127.0.0.1", 0))
    other, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                   local_addr=("127.0.0.1", 0))
    proto.other = cast(asyncio.DatagramTransport, other)
    try:
        yield proto, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()
        other.close()


@pytest.fixture()
async def client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create()
    yield c
    c.close()


def target(port: int, version: str = "2c", timeout: float = 0.2, retries: int = 1) -> SnmpTarget:
    return SnmpTarget("127.0.0.1", port, SnmpCredentials(version=version,
                                                         community=Secret("public")),
                      timeout=timeout, retries=retries)


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_get_and_walk(client: SnmpClient, agent: tuple[Agent, int], version: str) -> None:
    proto, port = agent
    cost = Cost()
    got = await client.get(target(port, version), ["1.3.6.1.2.1.1.3.0"], cost)
    assert got == {"1.3.6.1.2.1.1.3.0": 4242}
    rows = await client.walk_columns(target(port, version), COLUMNS, cost)
    assert rows == {k: v for k, v in TABLE.items() if k.startswith("1.3.6.1.2.1.43.")}
    assert cost.retries == 0 and cost.pdus == len(proto.requests)
    assert client.transport is not None and client.transport.slow == 0


async def test_silence_is_retried_then_answered(client: SnmpClient,
                                                agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.plan = lambda n: "drop" if n < 3 else "ok"
    cost = Cost()
    got = await client.get(target(port, retries=2), ["1.3.6.1.2.1.1.3.0"], cost)
    assert got and (cost.pdus, cost.retries) == (3, 2)


async def test_silence_beyond_the_retries_is_a_timeout(client: SnmpClient,
                                                       agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.plan = lambda n: "drop"
    cost = Cost()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(SnmpTimeout):
        await client.get(target(port, timeout=0.1, retries=1), ["1.3.6.1.2.1.1.3.0"], cost)
    assert (cost.pdus, cost.retries) == (2, 1)
    assert 0.18 < loop.time() - started < 1.0  # one timer per attempt: 2 attempts of 0.1 s


async def test_late_answer_to_an_earlier_attempt_is_dropped(client: SnmpClient,
                                                            agent: tuple[Agent, int]) -> None:
    # Attempt 1 is answered after its timeout, while attempt 2 waits; that answer is not
    # taken for attempt 2's (a new request-id per attempt, as pysnmp does).
    proto, port = agent
    proto.plan = lambda n: "late:0.15" if n == 1 else "late:0.07"  # at 0.15 s and 0.17 s
    cost = Cost()
    assert client.transport is not None
    dropped = client.transport.dropped
    got = await client.get(target(port, timeout=0.1, retries=1), ["1.3.6.1.2.1.1.3.0"], cost)
    assert got and (cost.pdus, cost.retries) == (2, 1)
    assert client.transport.dropped == dropped + 1


async def test_duplicate_answer_is_dropped(client: SnmpClient, agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.plan = lambda n: "twice"
    assert client.transport is not None
    dropped = client.transport.dropped
    cost = Cost()
    assert await client.get(target(port), ["1.3.6.1.2.1.1.3.0"], cost)
    transport = client.transport
    await async_wait_until(lambda: transport.dropped == dropped + 1, timeout=2, interval=0.01)
    assert transport.dropped == dropped + 1 and cost.pdus == 1


@pytest.mark.parametrize("what", ["wrong_id", "elsewhere", "wrong_community"])
async def test_strangers_answers_are_not_taken(client: SnmpClient, agent: tuple[Agent, int],
                                               what: str) -> None:
    proto, port = agent
    proto.plan = lambda n: what
    assert client.transport is not None
    dropped = client.transport.dropped
    cost = Cost()
    with pytest.raises(SnmpTimeout):
        await client.get(target(port, timeout=0.1), ["1.3.6.1.2.1.1.3.0"], cost)
    assert client.transport.dropped == dropped + 2 and cost.pdus == 2
    assert not client.garbled


async def test_what_the_reader_refuses_pysnmp_reads(client: SnmpClient,
                                                    agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.plan = lambda n: "long_length"
    assert client.transport is not None
    slow = client.transport.slow
    assert await client.get(target(port), ["1.3.6.1.2.1.1.3.0"]) == {"1.3.6.1.2.1.1.3.0": 4242}
    assert client.transport.slow == slow + 1


async def test_v1_no_such_name_drops_the_missing_oid(client: SnmpClient,
                                                     agent: tuple[Agent, int]) -> None:
    proto, port = agent
    cost = Cost()
    got = await client.get(target(port, "1"), ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.99.0",
                                               "1.3.6.1.2.1.43.11.1.1.9.1.1"], cost)
    assert got == {"1.3.6.1.2.1.1.3.0": 4242, "1.3.6.1.2.1.43.11.1.1.9.1.1": 901}
    assert cost.pdus == 2 and proto.requests == [("get", 3), ("get", 2)]


async def test_v2c_absent_oid_is_left_out(client: SnmpClient, agent: tuple[Agent, int]) -> None:
    _, port = agent
    assert await client.get(target(port), ["1.3.6.1.2.1.1.99.0", "1.3.6.1.2.1.1.3.0"]) == {
        "1.3.6.1.2.1.1.3.0": 4242}


async def test_too_big_get_is_split(client: SnmpClient, agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.fits = 2
    oids = sorted(TABLE, key=_key)[:5]
    cost = Cost()
    assert await client.get(target(port), oids, cost) == {o: TABLE[o] for o in oids}
    assert proto.requests == [("get", 5), ("get", 2), ("get", 3), ("get", 1), ("get", 2)]


@pytest.mark.parametrize("version", ["1", "2c"])
async def test_too_big_walk_shrinks_then_splits(client: SnmpClient, agent: tuple[Agent, int],
                                                version: str) -> None:
    proto, port = agent
    proto.fits = 2
    rows = await client.walk_columns(target(port, version), COLUMNS, Cost())
    assert rows == {k: v for k, v in TABLE.items() if k.startswith("1.3.6.1.2.1.43.")}
    assert proto.requests[0][1] == 3 and min(n for _, n in proto.requests) <= 2


async def test_error_status_is_an_error(client: SnmpClient, agent: tuple[Agent, int]) -> None:
    proto, port = agent
    proto.fits = 0
    with pytest.raises(SnmpError, match="error-status 1"):
        await client.get(target(port), ["1.3.6.1.2.1.1.3.0"])


async def test_requests_are_encoded_once(client: SnmpClient, agent: tuple[Agent, int]) -> None:
    _, port = agent
    assert client.transport is not None
    cache = client.transport.cache
    misses = cache.misses
    for _ in range(3):
        await client.get(target(port), ["1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.43.11.1.1.9.1.1"])
    assert cache.misses == misses + 1 and cache.hits >= 2


async def test_unresolvable_host_is_a_bad_address(client: SnmpClient) -> None:
    bad = SnmpTarget("no-such-host.invalid", credentials=SnmpCredentials())
    with pytest.raises(SnmpError) as err:
        await client.prepare(bad)
    assert err.value.reason == "bad_address"
