"""SNMP failures over real UDP that must be told apart: silence, and an answer that is not SNMP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

from probes.model import Reading
from probes.printer import PrinterProbe
from probes.snmp import SnmpClient, SnmpTarget


class Garbage(asyncio.DatagramProtocol):
    """A UDP 'agent' that answers every request with bytes that are not SNMP."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.transport.sendto(b"\x30\x03\x02\x01\xff garbage", addr)


@pytest.fixture()
async def client() -> AsyncIterator[SnmpClient]:
    c = await SnmpClient.create()
    yield c
    c.close()


async def poll(client: SnmpClient, agent: type[asyncio.DatagramProtocol], retries: int
               ) -> Reading:
    """One printer poll of a UDP 'agent' on a loopback port of its own."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(agent, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        return await PrinterProbe(client).collect(
            SnmpTarget("127.0.0.1", port, timeout=0.3, retries=retries))
    finally:
        transport.close()


async def test_garbage_answer_is_malformed_not_silence(client: SnmpClient) -> None:
    reading = await poll(client, Garbage, retries=1)
    assert not reading.reachable and reading.status == "unreachable"
    assert reading.result == "malformed_answer" and reading.error, reading.error
    assert reading.cost.pdus == 2


async def test_silence_is_still_a_timeout(client: SnmpClient) -> None:
    reading = await poll(client, asyncio.DatagramProtocol, retries=0)
    assert reading.result == "timeout" and reading.error, reading.error
