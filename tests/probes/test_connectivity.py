"""Connectivity probes against real loopback servers."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from collector.demo import free_port
from probes import connectivity


async def test_ping_loopback() -> None:
    reading = await connectivity.ping("127.0.0.1", timeout=1.0)
    if reading.error and "not permitted" in reading.error:
        pytest.fail(reading.error)
    assert reading.reachable and dict(reading.metrics)["rtt_ms"] >= 0


async def test_ping_bad_name() -> None:
    reading = await connectivity.ping("no-such-host.invalid", timeout=0.5)
    assert not reading.reachable and reading.error


async def test_tcp_open_and_closed() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        ok = await connectivity.tcp_connect("127.0.0.1", port, timeout=1.0)
    assert ok.reachable and ok.status == "ok" and "connect_ms" in dict(ok.metrics)
    closed = await connectivity.tcp_connect("127.0.0.1", free_port(), timeout=1.0)
    assert not closed.reachable and closed.result == "refused" and closed.error


async def test_http_status_checked() -> None:
    app = web.Application()
    async def ok_handler(request: web.Request) -> web.Response:
        return web.Response(text="fine")

    async def broken_handler(request: web.Request) -> web.Response:
        return web.Response(status=500)

    app.router.add_get("/ok", ok_handler)
    app.router.add_get("/broken", broken_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as session:
            ok = await connectivity.http_get(session, f"http://127.0.0.1:{port}/ok")
            bad = await connectivity.http_get(session, f"http://127.0.0.1:{port}/broken")
            gone = await connectivity.http_get(session, f"http://127.0.0.1:{free_port()}/",
                                               timeout=1.0)
    finally:
        await runner.cleanup()
    assert ok.status == "ok" and ok.result == "ok" and dict(ok.metrics)["status_code"] == 200
    assert bad.reachable and bad.status == "critical" and dict(bad.metrics)["status_code"] == 500
    assert bad.result == "unexpected_status"
    assert not gone.reachable and gone.error and gone.result == "connect_failed"
