"""The composition root: the one place that builds the collector's aiohttp application and orders
its cleanup contexts.

Start-up runs them in order: the HTTP client session, the InfluxDB writer, the ticket queue (store,
notifier, fault engine), the scheduler. Stopping (SIGTERM/SIGINT, or the app's cleanup) runs them
in reverse: polling stops first, then tickets close, then storage flushes what it holds (to
InfluxDB, or to its disk spool). Every piece of app state is a typed key of :mod:`collector.keys`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from collector.config import Config
from collector.faults.engine import FaultEngine
from collector.keys import CONFIG, ENGINE, HTTP, NOTIFY, SCHEDULER, SINKS, STATE, STATS, STORE
from collector.notify.notifier import Notifier
from collector.pipeline import ReadingSink
from collector.scheduler import Scheduler
from collector.state import StateCache
from collector.storage.influx import InfluxWriter
from collector.tickets import DB_NAME
from collector.tickets import api as tickets_api
from collector.tickets import pages as ticket_pages
from collector.tickets.store import TicketStore
from collector.web import fleet
from collector.web.errors import api_json_errors
from probes.snmp import SnmpClient

log = logging.getLogger(__name__)


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
    writer = await InfluxWriter.create(config.storage, config.collector.state_dir, app[HTTP])
    await writer.start()
    app[SINKS].insert(0, writer)
    app[STATS]["storage"] = writer
    try:
        yield
    finally:
        await writer.close()


async def _tickets_ctx(app: web.Application) -> AsyncIterator[None]:
    """Opens ``<state_dir>/tickets.sqlite3``, starts the notifier (webhooks through ``app[HTTP]``),
    creates the fault engine and appends it to the sinks; at shutdown removes the engine from the
    sinks, stops the notifier (giving queued notices a moment) and closes the store."""
    config = app[CONFIG]
    store = await TicketStore.open(config.collector.state_dir / DB_NAME)
    notifier = Notifier(config.notifications, app.get(HTTP))
    try:
        await notifier.start()
        engine = await FaultEngine.create(store, config, notifier.notify)
        app[STORE] = store
        app[ENGINE] = engine
        app[NOTIFY] = notifier.notify
        app[SINKS].append(engine)
        app[STATS]["tickets"] = engine
        app[STATS]["notifications"] = notifier
        yield
    finally:
        if ENGINE in app and app[ENGINE] in app[SINKS]:
            app[SINKS].remove(app[ENGINE])
        await notifier.stop()
        await store.close()


async def _scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    client = await SnmpClient.create()
    sinks: list[ReadingSink] = app[SINKS]
    scheduler = Scheduler(config.devices, config.collector, sinks, client, app[HTTP])
    app[SCHEDULER] = scheduler
    app[STATS]["scheduler"] = scheduler
    await scheduler.start()
    try:
        yield
    finally:
        await scheduler.stop()
        client.close()


def build_app(config: Config) -> web.Application:
    """The whole collector as an aiohttp app (not started). Creates the state directory."""
    config.collector.state_dir.mkdir(parents=True, exist_ok=True)
    app = web.Application(middlewares=[api_json_errors])
    app[CONFIG] = config
    app[SINKS] = []
    app[STATS] = {}
    state = StateCache(config.devices)
    app[STATE] = state
    app[SINKS].append(state)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_tickets_ctx)
    app.cleanup_ctx.append(_scheduler_ctx)
    tickets_api.add_routes(app)
    fleet.add_routes(app)
    ticket_pages.add_routes(app)
    return app


def run(config: Config) -> None:
    """Serve until SIGTERM/SIGINT; then stop cleanly, flushing storage."""
    app = build_app(config)
    log.info("collector listening on http://%s:%d/", config.collector.listen_host,
             config.collector.listen_port)
    web.run_app(app, host=config.collector.listen_host, port=config.collector.listen_port,
                print=None, handle_signals=True, shutdown_timeout=10)
