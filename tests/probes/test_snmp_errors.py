"""SNMP failures over real UDP that must be told apart: silence, and an answer that is not SNMP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import cast

import pytest

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


async def test_garbage_answer_is_malformed_not_silence(client: SnmpClient) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(Garbage, local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        reading = await PrinterProbe(client).collect(
            SnmpTarget("127.0.0.1", port, timeout=0.3, retries=1))
    finally:
        transport.close()
    assert not reading.reachable and reading.status == "unreachable"
    assert reading.error and reading.error.startswith("malformed_answer"), reading.error
    assert reading.cost.pdus == 2


async def test_silence_is_still_a_timeout(client: SnmpClient) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                       local_addr=("127.0.0.1", 0))
    port = transport.get_extra_info("sockname")[1]
    try:
        reading = await PrinterProbe(client).collect(
            SnmpTarget("127.0.0.1", port, timeout=0.3, retries=0))
    finally:
        transport.close()
    assert reading.error and reading.error.startswith("timeout"), reading.error
