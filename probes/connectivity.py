"""Connectivity probes for any device: ICMP ping, TCP connect, HTTP GET.

Each returns a :class:`Reading` whose ``metrics`` carry the measured numbers; a timeout or a
refusal is data (``reachable=False``, ``error``), as Telegraf's net_response reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time

import aiohttp
import icmplib
from yarl import URL

from probes.model import PollCost, Reading


def _reading(device: str, host: str, probe: str, started: float, *, error: str | None = None,
             metrics: dict[str, float] | None = None, status: str | None = None) -> Reading:
    duration = round(time.perf_counter() - started, 6)
    ok = error is None
    return Reading(
        device=device, host=host, probe=probe, reachable=ok, error=error,
        status=status or ("ok" if ok else "unreachable"),  # type: ignore[arg-type]
        metrics=tuple(sorted((metrics or {}).items())),
        cost=PollCost(duration_s=duration, pdus=1, retries=0),
    )


async def ping(host: str, *, device: str | None = None, timeout: float = 2.0,
               count: int = 1) -> Reading:
    """ICMP echo. Raw socket as root, else an unprivileged ICMP socket (needs
    net.ipv4.ping_group_range to include our group)."""
    started = time.perf_counter()
    name = device or host
    try:
        async with asyncio.timeout(timeout * count + 1.0):
            result = await icmplib.async_ping(host, count=count, timeout=timeout, interval=0.2,
                                              privileged=os.geteuid() == 0)
    except icmplib.NameLookupError:
        return _reading(name, host, "ping", started, error="bad_address: cannot resolve host")
    except icmplib.SocketPermissionError:
        return _reading(name, host, "ping", started,
                        error="ping not permitted: run as root or allow ICMP sockets "
                        "(sysctl net.ipv4.ping_group_range)")
    except (icmplib.ICMPLibError, OSError, TimeoutError) as err:
        return _reading(name, host, "ping", started, error=f"ping failed: {err}")
    if not result.is_alive:
        return _reading(name, host, "ping", started, error="timeout: no echo reply",
                        metrics={"packet_loss": 1.0})
    return _reading(name, host, "ping", started, metrics={
        "rtt_ms": float(result.avg_rtt), "packet_loss": float(result.packet_loss)})


async def tcp_connect(host: str, port: int, *, device: str | None = None,
                      timeout: float = 2.0) -> Reading:
    started = time.perf_counter()
    name = device or host
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(host, port)
    except TimeoutError:
        return _reading(name, host, "tcp", started, error=f"timeout: no answer on port {port}")
    except ConnectionRefusedError:
        return _reading(name, host, "tcp", started, error=f"refused: port {port} closed")
    except OSError as err:
        return _reading(name, host, "tcp", started, error=f"connect failed: {err.strerror or err}")
    connect_ms = (time.perf_counter() - started) * 1000
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return _reading(name, host, "tcp", started, metrics={"connect_ms": round(connect_ms, 3)})


async def http_get(session: aiohttp.ClientSession, url: str, *, device: str | None = None,
                   timeout: float = 5.0, expect_status: int = 200) -> Reading:
    """GET ``url``; ``critical`` when the status differs from ``expect_status``."""
    started = time.perf_counter()
    host = URL(url).host or url
    name = device or host
    try:
        async with asyncio.timeout(timeout), session.get(url, allow_redirects=False) as resp:
            await resp.read()
            code = resp.status
    except TimeoutError:
        return _reading(name, host, "http", started, error="timeout: no HTTP answer")
    except aiohttp.ClientError as err:
        return _reading(name, host, "http", started, error=f"http failed: {err}")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    metrics = {"status_code": float(code), "response_ms": elapsed_ms}
    if code != expect_status:
        return _reading(name, host, "http", started, metrics=metrics, status="critical")
    return _reading(name, host, "http", started, metrics=metrics)
