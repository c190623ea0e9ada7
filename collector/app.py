"""The composition root: the one place that builds the collector's aiohttp application and orders
its cleanup contexts.

Start-up runs them in order: the HTTP client session, the InfluxDB writer, the ticket queue (store,
notifier, fault engine), the scheduler. Stopping (SIGTERM, SIGINT or SIGHUP, or the app's cleanup)
runs them in reverse: polling stops first (and agent ingest next; both wait until every reading
they handed over has reached all the sinks: collector/pipeline.py), then tickets close, then
storage flushes what it holds (to InfluxDB, or to its disk spool). Every piece of app state is
a typed key of :mod:`collector.keys`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from collector.auth import DB_NAME as ACCOUNTS_DB
from collector.auth import AuthSettings
from collector.auth.middleware import auth_middleware
from collector.auth.store import AccountStore
from collector.config import CollectorSettings, Config
from collector.faults.engine import FaultEngine
from collector.ingest import api as ingest_api
from collector.ingest.settings import IngestSettings
from collector.keys import (
    ACCOUNTS,
    AUTH,
    CONFIG,
    ENGINE,
    HTTP,
    LEGACY_TOKEN,
    NOTIFY,
    SCHEDULER,
    SINKS,
    STATE,
    STATS,
    STOCK,
    STORE,
    SUPPLIES,
    UPTIME,
)
from collector.notify.notifier import Notifier
from collector.pipeline import ReadingSink
from collector.scheduler import Scheduler
from collector.state import StateCache
from collector.storage.influx import InfluxWriter
from collector.storage.query import InfluxQuery
from collector.supplies import samples as supplies_samples
from collector.supplies import stock as supplies_stock
from collector.supplies.engine import HISTORY, SupplyEngine
from collector.supplies.history import seed_engine
from collector.tickets import DB_NAME
from collector.tickets import api as tickets_api
from collector.tickets import pages as ticket_pages
from collector.tickets.store import TicketStore
from collector.uptime.store import DB_NAME as UPTIME_DB
from collector.uptime.store import UptimeStore
from collector.web import assets, events, fleet, login, templating, uptime
from collector.web import supplies as supplies_pages
from collector.web.errors import api_json_errors, quiet_bad_requests
from collector.web.middleware import request_guard
from probes import eventloop
from probes.errors import FleetwatchError
from probes.eventloop import loop_name
from probes.snmp import SnmpClient

log = logging.getLogger(__name__)

# Each one stops the service cleanly. SIGHUP too: the terminal that started it was closed, and a
# daemon's "reload" is not offered (the config is read once; restart to change it).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


# Seconds a stopping collector gives pending notifications (the rest wait in the outbox).
DRAIN = 2.0


class ListenError(FleetwatchError):
    """The web UI/API address (``collector.listen``) cannot be bound."""


class StateDirError(FleetwatchError):
    """``collector.state_dir`` cannot be created or written."""


def check_state_dir(settings: CollectorSettings) -> None:
    """Create ``collector.state_dir`` if needed and prove it takes a file (write, fsync,
    delete). Raises :class:`StateDirError` with one line naming the config key."""
    path = settings.state_dir
    probe = path / f".fleetwatch-probe-{os.getpid()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"x")
            os.fsync(fd)
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as err:
        reason = (err.strerror or str(err)).lower()
        raise StateDirError(f"cannot use state directory {path} (collector.state_dir): "
                            f"{reason}") from err


async def _http_ctx(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        app[HTTP] = session
        yield


async def _accounts_ctx(app: web.Application) -> AsyncIterator[None]:
    """Opens ``<state_dir>/accounts.sqlite3`` (users, sessions, tokens: collector.auth)."""
    store = await AccountStore.open(app[CONFIG].collector.state_dir / ACCOUNTS_DB)
    app[ACCOUNTS] = store
    try:
        yield
    finally:
        await store.close()


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
    """Opens ``<state_dir>/tickets.sqlite3`` (with an outbox row per enabled notification
    channel), starts the notifier (the outbox deliverer; webhooks through ``app[HTTP]``), creates
    the fault engine and appends it to the sinks; at shutdown removes the engine from the sinks,
    stops the notifier (it sends what it can within DRAIN s; the rest stays in the outbox for
    the next start) and closes the store."""
    config = app[CONFIG]
    store = await TicketStore.open(config.collector.state_dir / DB_NAME,
                                   outbox_channels=Notifier.channel_names(config.notifications))
    notifier = Notifier(config.notifications, store, app.get(HTTP))
    try:
        await notifier.start()
        engine = await FaultEngine.create(store, config, notifier.notify)
        app[STORE] = store
        app[ENGINE] = engine
        app[NOTIFY] = notifier.notify
        app[SINKS].append(engine)
        app[STATS]["tickets"] = engine
        app[STATS]["notifications"] = notifier
        app[STATS]["ticket_store"] = store
        yield
    finally:
        if ENGINE in app and app[ENGINE] in app[SINKS]:
            app[SINKS].remove(app[ENGINE])
        await notifier.stop(drain=DRAIN)
        await store.close()


async def _uptime_ctx(app: web.Application) -> AsyncIterator[None]:
    """Opens ``<state_dir>/uptime.sqlite3`` and adds the span record to the sinks."""
    store = await UptimeStore.open(app[CONFIG].collector.state_dir / UPTIME_DB)
    await store.start()
    app[UPTIME] = store
    app[SINKS].append(store)
    app[STATS]["uptime"] = store
    try:
        yield
    finally:
        app[SINKS].remove(store)
        await store.close()


async def _supplies_ctx(app: web.Application) -> AsyncIterator[None]:
    """Opens ``<state_dir>/supplies.sqlite3`` (stock, swaps) and
    ``<state_dir>/supplies-history.sqlite3`` (each supply's hourly history: the forecast goes on
    after a restart; seeded once from InfluxDB when it is empty), creates the supplies engine,
    puts it in the sinks just before the fault engine (which reads its reorder advice). At stop
    the open hour's samples are saved."""
    config = app[CONFIG]
    settings = config.supplies  # the ``supplies:`` section
    stock = await supplies_stock.StockStore.open(config.collector.state_dir / supplies_stock.DB_NAME)
    writer = app[STATS].get("storage")
    engine = await SupplyEngine.create(settings, tickets=app.get(STORE), stock=stock,
                                       write_lines=writer.write_lines if writer else None)
    history = await supplies_samples.HistoryStore.open(
        config.collector.state_dir / supplies_samples.DB_NAME)
    restored = await engine.restore(history, devices=[d.name for d in config.devices])
    if writer is not None and not restored:  # first start with an empty history file
        query = await InfluxQuery.create(config.storage, app.get(HTTP))
        try:
            await seed_engine(engine, query, config.storage.database,
                              devices=[d.name for d in config.devices], days=HISTORY / 24)
        finally:
            await query.close()
        await engine.persist_all()
    app[SUPPLIES], app[STOCK] = engine, stock
    app[STATS]["supplies"] = engine
    sinks = app[SINKS]
    faults = app.get(ENGINE)
    sinks.insert(sinks.index(faults) if faults in sinks else len(sinks), engine)
    if faults is not None:
        faults.advisor = engine
    try:
        yield
    finally:
        if engine in sinks:
            sinks.remove(engine)
        if faults is not None:
            faults.advisor = None
        await engine.save()
        await history.close()
        await stock.close()


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


def build_app(config: Config, auth: AuthSettings | None = None, *,
              ingest: IngestSettings | None = None) -> web.Application:
    """The whole collector as an aiohttp app (not started). Creates the state directory
    (raises :class:`StateDirError` when it cannot). ``ingest`` and ``auth`` default to the
    config's ``agents:`` and ``auth:`` sections."""
    try:
        config.collector.state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StateDirError(f"cannot use state directory {config.collector.state_dir} "
                            f"(collector.state_dir): {(err.strerror or str(err)).lower()}"
                            ) from err
    quiet_bad_requests()
    # api_json_errors outermost (its catch-all also covers the rest); then the request gate
    # (headers, ids, Host/Origin, JSON bodies); then who is asking and what their role may do
    # (collector/auth: logins, API tokens, the legacy api_token, the role matrix).
    app = web.Application(middlewares=[api_json_errors, request_guard, auth_middleware])
    app[CONFIG] = config
    app[AUTH] = auth if auth is not None else config.auth
    if config.collector.api_token is not None:
        app[LEGACY_TOKEN] = config.collector.api_token.reveal()
    app[SINKS] = []
    app[STATS] = {}
    state = StateCache(config.devices)
    app[STATE] = state
    app[SINKS].append(state)
    app.cleanup_ctx.append(_http_ctx)
    app.cleanup_ctx.append(_accounts_ctx)
    app.cleanup_ctx.append(_storage_ctx)
    app.cleanup_ctx.append(_tickets_ctx)
    app.cleanup_ctx.append(_uptime_ctx)
    app.cleanup_ctx.append(_supplies_ctx)
    ingest_api.setup(app, ingest or config.agents)  # after tickets: the engine is a sink
    events.setup(app, max_streams=config.collector.max_event_streams)  # its sink goes last
    app.cleanup_ctx.append(_scheduler_ctx)
    tickets_api.add_routes(app)
    fleet.add_routes(app)
    ticket_pages.add_routes(app)
    uptime.add_routes(app)
    supplies_pages.add_routes(app)
    templating.setup(app)
    login.add_routes(app)
    assets.add_routes(app)
    return app


def listen_sockets(settings: CollectorSettings) -> list[socket.socket]:
    """Bound (not yet listening) TCP sockets for ``collector.listen``, one per address the host
    resolves to, as asyncio's ``create_server`` would bind them (SO_REUSEADDR, IPv6-only for
    IPv6). Called before anything else starts, so that a busy port stops a start-up that has
    nothing to undo; this bind is the real one (the sockets go to :func:`serving`).

    Raises :class:`ListenError` (one line naming the config key) and leaves nothing open."""
    host, port = settings.listen_host, settings.listen_port
    where = f"{f'[{host}]' if ':' in host else host}:{port} (collector.listen)"
    socks: list[socket.socket] = []
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            socks.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
    except OSError as err:  # also socket.gaierror: a host name that does not resolve
        for sock in socks:
            sock.close()
        reason = (err.strerror or str(err)).lower()
        raise ListenError(f"cannot listen on {where}: {reason}") from err
    return socks


@contextlib.asynccontextmanager
async def serving(app: web.Application, socks: Sequence[socket.socket]
                  ) -> AsyncIterator[web.AppRunner]:
    """Start ``app`` (its cleanup contexts, then HTTP on ``socks`` from :func:`listen_sockets`)
    and stop it all on leaving, also when the start failed half-way."""
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=10)
    try:
        await runner.setup()
        for sock in socks:
            await web.SockSite(runner, sock).start()
        yield runner
    finally:
        await runner.cleanup()
        for sock in socks:
            sock.close()


def stop_event() -> asyncio.Event:
    """An event that each of :data:`STOP_SIGNALS` sets (call inside the running loop; the
    handlers go with the loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    return stop


def run(config: Config) -> None:
    """Serve until SIGTERM/SIGINT/SIGHUP; then stop cleanly, flushing storage. Raises
    :class:`StateDirError` or :class:`ListenError` before anything starts when
    ``collector.state_dir`` is unusable or ``collector.listen`` cannot be bound."""
    socks = listen_sockets(config.collector)  # first: a busy port leaves nothing behind
    try:
        check_state_dir(config.collector)
    except StateDirError:
        for sock in socks:
            sock.close()
        raise
    eventloop.run(_serve(config, socks))


async def _serve(config: Config, socks: Sequence[socket.socket]) -> None:
    stop = stop_event()
    async with serving(build_app(config), socks):
        log.info("collector listening on http://%s:%d/ (event loop: %s)",
                 config.collector.listen_host, config.collector.listen_port, loop_name())
        await stop.wait()
    log.info("collector stopped")
