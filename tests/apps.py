"""Serving the collector, and the small HTTP receivers tests point it at, on loopback; and a
simulated fleet served by snmpsim. The pieces the end-to-end tests all built the same way.

- ``async with serving(app) as url`` runs any aiohttp app (the whole collector from
  ``build_app``, a webhook receiver) on 127.0.0.1 until the block ends; :func:`start` is the
  same for a test that stops the app itself (``await runner.cleanup()``) before its end.
- ``with simulated(fleet) as sim`` writes the fleet's recordings and serves them with snmpsim
  until the block ends (:func:`simulated_async` from a coroutine, off the event loop).
- :func:`printer_devices`: one ``snmp_printer`` device per simulated printer, its community
  the printer's name.
- :class:`Client`: JSON calls to a served app; :class:`Webhook` (:func:`webhook`): a receiver
  that records what the notifier posts.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from collector.config import DeviceConfig, SnmpProfile
from collector.demo import Snmpsim, free_port
from collector.demo.simfleet import SimFleet
from probes.registry import probe_settings
from probes.secret import Secret


async def start(app: web.Application, port: int | None = None) -> tuple[web.AppRunner, str]:
    """``app`` started (its cleanup contexts run) and listening on 127.0.0.1:``port`` (a free
    port when None): the runner, to ``cleanup()``, and the base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = port or free_port()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner, f"http://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def serving(app: web.Application, port: int | None = None) -> AsyncIterator[str]:
    """The base URL of ``app`` served as :func:`start` does, until the block ends."""
    runner, url = await start(app, port)
    try:
        yield url
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def simulated(fleet: SimFleet) -> Iterator[Snmpsim]:
    """snmpsim serving ``fleet`` (its recordings written first) until the block ends."""
    fleet.write()
    sim = Snmpsim([], live_dir=fleet.data_dir).start()
    try:
        yield sim
    finally:
        sim.stop()


@contextlib.asynccontextmanager
async def simulated_async(fleet: SimFleet) -> AsyncIterator[Snmpsim]:
    """:func:`simulated` for a coroutine: snmpsim is started and stopped in a thread."""
    fleet.write()
    sim = await asyncio.to_thread(Snmpsim([], live_dir=fleet.data_dir).start)
    try:
        yield sim
    finally:
        await asyncio.to_thread(sim.stop)


def printer_devices(fleet: SimFleet, sim: Snmpsim, *, site: str | None = "HQ",
                    location: str | None = None, snmp_timeout: float = 0.5, retries: int = 0,
                    **probe: Any) -> tuple[DeviceConfig, ...]:
    """A device per printer of ``fleet`` on ``sim``; ``probe``: the ``snmp_printer`` settings
    (interval, timeout, full_every, …)."""
    return tuple(
        DeviceConfig(name=p.name, host=sim.host, port=sim.port, site=site, location=location,
                     snmp=SnmpProfile(name="p", community=Secret(p.name), timeout=snmp_timeout,
                                      retries=retries),
                     probes=(probe_settings("snmp_printer", **probe),))
        for p in fleet.printers)


class _Own(enum.Enum):
    TOKEN = 0


@dataclass
class Client:
    """A served ``app`` at ``url``, called through ``http``; ``token``: the bearer token a call
    sends unless it names another (``token=None``: none)."""

    app: web.Application
    url: str
    http: aiohttp.ClientSession
    token: str | None = None

    async def call(self, method: str, path: str, body: Any = None, *,
                   token: str | _Own | None = _Own.TOKEN, raw: bytes | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """(status, the decoded JSON answer, or its text when it is not JSON). ``body`` is
        sent as JSON, ``raw`` as it is; both as ``application/json``, as is any POST, PUT or
        PATCH (the request gate refuses other types)."""
        if token is _Own.TOKEN:
            token = self.token
        h = dict(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None
                                            else None)
        if (data is not None or method in {"POST", "PUT", "PATCH"}) and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        if token:
            h["Authorization"] = f"Bearer {token}"
        async with self.http.request(method, self.url + path, data=data, headers=h) as r:
            text = await r.text()
            try:
                return r.status, json.loads(text)
            except ValueError:
                return r.status, text


@dataclass
class Webhook:
    """A webhook receiver: answers each POST with the next status of ``script`` (then 200) after
    ``delay`` seconds; ``received``: every body it answered 200 to (repeats included)."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0
    script: list[int] = field(default_factory=list)
    delay: float = 0.0
    headers: list[dict[str, str]] = field(default_factory=list)
    got: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        self.headers.append(dict(request.headers))
        body = await request.json()
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.script.pop(0) if self.script else 200
        if status == 200:
            self.received.append(body)
            self.got.set()
        return web.json_response({}, status=status)


@contextlib.asynccontextmanager
async def webhook() -> AsyncIterator[Webhook]:
    """A :class:`Webhook` served at ``<url>/hook`` until the block ends."""
    hook = Webhook()
    app = web.Application()
    app.router.add_post("/hook", hook.handle)
    async with serving(app) as url:
        hook.url = url + "/hook"
        yield hook
