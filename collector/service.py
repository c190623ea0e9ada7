"""The collector service: one aiohttp application whose cleanup contexts start and stop, in
order, the HTTP client session, the InfluxDB writer, the ticket queue and the scheduler.

Stopping (SIGTERM/SIGINT, or the app's cleanup) runs them in reverse: polling stops first, then
tickets close, then storage flushes what it holds (to InfluxDB, or to its disk spool).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from collector import tickets
from collector import web as pages
from collector.appkeys import CONFIG, HTTP, SINKS
from collector.config import Config
from collector.pipeline import ReadingSink
from collector.scheduler import Scheduler
from collector.state import StateCache
from probes.snmp import SnmpClient

log = logging.getLogger(__name__)

SCHEDULER = web.AppKey("scheduler", Scheduler)


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        app[HTTP] = session
        yield


async def _storage_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    if config.storage.backend == "none":
        log.warning("storage backend is 'none': metrics are not stored")
        yield
        return
    from collector.storage.influx import InfluxWriter

    writer = await InfluxWriter.create(config.storage, config.collector.state_dir, app[HTTP])
    await writer.start()
    app[SINKS].insert(0, writer)
    app[pages.STATS]["storage"] = writer
    try:
        yield
    finally:
        await writer.close()


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    client = await SnmpClient.create()
    sinks: list[ReadingSink] = app[SINKS]
    scheduler = Scheduler(config.devices, config.collector, sinks, client, app[HTTP])
    app[SCHEDULER] = scheduler
    app[pages.STATS]["scheduler"] = scheduler
    await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
        client.close()


def build_app(config: Config) -> web.Application:
    """The whole collector as an aiohttp app (not started). Creates the state directory."""
    config.collector.state_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[pages.api_json_errors])
    app[CONFIG] = config
    app[SINKS] = []
    app[pages.STATS] = {}
    state = StateCache(config.devices)
    app[pages.STATE] = state
    app[SINKS].append(state)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_storage_ctx)
    tickets.setup(app)
    pages.setup(app)
    pages.setup_ticket_pages(app)
    app.cleanup_ctx.append(_scheduler_ctx)
    return app


def run(config: Config) -> None:
    """Serve until SIGTERM/SIGINT; then stop cleanly, flushing storage."""
    app = build_app(config)
    log.info("collector listening on http://%s:%d/", config.collector.listen_host,
             config.collector.listen_port)
    web.run_app(app, host=config.collector.listen_host, port=config.collector.listen_port,
                print=None, handle_signals=True, shutdown_timeout=10)
