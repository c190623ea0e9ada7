"""Connectivity probes for any device: ICMP ping, TCP connect, HTTP GET.

Each returns a :class:`Reading` whose ``metrics`` carry the measured numbers; a timeout or a
refusal is data (``reachable=False``, ``error``), as Telegraf's net_response reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import ClassVar, Literal, cast

import aiohttp
import icmplib
from pydantic import Field
from yarl import URL

from probes.base import ProbeSettings, Resources, Target
from probes.model import PollCost, Reading, Result


def _reading(device: str, host: str, probe: str, started: float, *, result: Result = "ok",
             error: str | None = None, metrics: dict[str, float] | None = None,
             status: str | None = None) -> Reading:
    """``reachable`` unless the device did not answer (``result`` other than ok or
    unexpected_status, where it did)."""
    duration = round(time.perf_counter() - started, 6)
    ok = result in {"ok", "unexpected_status"}
    return Reading(
        device=device, host=host, probe=probe, reachable=ok, result=result, error=error,
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
        return _reading(name, host, "ping", started, result="bad_address",
                        error="bad_address: cannot resolve host")
    except icmplib.SocketPermissionError:
        return _reading(name, host, "ping", started, result="not_permitted",
                        error="ping not permitted: run as root or allow ICMP sockets "
                        "(sysctl net.ipv4.ping_group_range)")
    except (icmplib.ICMPLibError, OSError, TimeoutError) as err:
        return _reading(name, host, "ping", started, result="connect_failed",
                        error=f"ping failed: {err}")
    if not result.is_alive:
        return _reading(name, host, "ping", started, result="timeout",
                        error="timeout: no echo reply",
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
        return _reading(name, host, "tcp", started, result="timeout",
                        error=f"timeout: no answer on port {port}")
    except ConnectionRefusedError:
        return _reading(name, host, "tcp", started, result="refused",
                        error=f"refused: port {port} closed")
    except OSError as err:
        return _reading(name, host, "tcp", started, result="connect_failed",
                        error=f"connect failed: {err.strerror or err}")
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
        return _reading(name, host, "http", started, result="timeout",
                        error="timeout: no HTTP answer")
    except aiohttp.ClientError as err:
        return _reading(name, host, "http", started, result="connect_failed",
                        error=f"http failed: {err}")
    elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
    metrics = {"status_code": float(code), "response_ms": elapsed_ms}
    if code != expect_status:
        return _reading(name, host, "http", started, result="unexpected_status", metrics=metrics,
                        status="critical")
    return _reading(name, host, "http", started, metrics=metrics)


# --- the probe kinds ------------------------------------------------------------------------------
class PingSettings(ProbeSettings):
    kind: Literal["ping"] = "ping"


class TcpSettings(ProbeSettings):
    kind: Literal["tcp"] = "tcp"
    port: int | None = Field(None, ge=1, le=65535, description="TCP port (default: the device's)")


class HttpSettings(ProbeSettings):
    kind: Literal["http"] = "http"
    url: str | None = Field(None, description="URL to GET (default: http://HOST/)")
    expect_status: int = Field(200, ge=100, le=599, description="the status that means healthy")


class _Stateless:
    sleeps: ClassVar[bool] = False

    def __init__(self, resources: Resources) -> None:
        self._resources = resources

    def forget(self, target: Target) -> None:
        """Nothing to forget: every poll is whole."""


class Ping(_Stateless):
    """``kind: ping``: one ICMP echo."""

    kind: ClassVar[str] = "ping"
    settings: ClassVar[type[ProbeSettings]] = PingSettings

    async def collect(self, target: Target) -> Reading:
        return await ping(target.host, device=target.device, timeout=target.settings.timeout)


class Tcp(_Stateless):
    """``kind: tcp``: a TCP connect to ``port`` (default: the device's port)."""

    kind: ClassVar[str] = "tcp"
    settings: ClassVar[type[ProbeSettings]] = TcpSettings

    async def collect(self, target: Target) -> Reading:
        settings = cast(TcpSettings, target.settings)
        return await tcp_connect(target.host, settings.port or target.port, device=target.device,
                                 timeout=settings.timeout)


class Http(_Stateless):
    """``kind: http``: a GET of ``url`` (default ``http://HOST/``) expecting ``expect_status``."""

    kind: ClassVar[str] = "http"
    settings: ClassVar[type[ProbeSettings]] = HttpSettings

    async def collect(self, target: Target) -> Reading:
        settings = cast(HttpSettings, target.settings)
        return await http_get(self._resources.http, settings.url or f"http://{target.host}/",
                              device=target.device, timeout=settings.timeout,
                              expect_status=settings.expect_status)
