"""The built-in ticket queue: SQLite store, fault engine wiring, REST API, notifications.

The collector service calls :func:`setup` while it builds the app, after ``app[CONFIG]`` and
``app[SINKS]`` are set and before the app starts. ``setup`` adds the routes and one cleanup
context which, at startup, opens ``<state_dir>/tickets.sqlite3``, starts the notifier (webhooks
go through ``app[HTTP]`` when an earlier cleanup context has set it), creates the fault engine
and appends it to ``app[SINKS]``; at shutdown it removes the engine from the sinks, stops the
notifier (giving queued notices a moment) and closes the store.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from aiohttp import web

from collector.appkeys import CONFIG, HTTP, SINKS
from collector.tickets.api import NOTIFY, STORE, add_routes
from collector.tickets.store import TicketStore

if TYPE_CHECKING:  # collector.faults imports this package's store: no import at run time
    from collector.faults import FaultEngine

log = logging.getLogger(__name__)

ENGINE: web.AppKey[FaultEngine] = web.AppKey("fault_engine")

DB_NAME = "tickets.sqlite3"


def setup(app: web.Application) -> None:
    add_routes(app)
    app.cleanup_ctx.append(_tickets_ctx)


async def _tickets_ctx(app: web.Application) -> AsyncIterator[None]:
    # Imported here: collector.faults imports collector.tickets.store (this package).
    from collector import web as pages
    from collector.faults import FaultEngine
    from collector.notify import Notifier

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
        stats = app.get(pages.STATS)
        if stats is not None:
            stats["tickets"] = engine
            stats["notifications"] = notifier
        yield
    finally:
        if ENGINE in app and app[ENGINE] in app[SINKS]:
            app[SINKS].remove(app[ENGINE])
        await notifier.stop()
        await store.close()


__all__ = ["DB_NAME", "ENGINE", "NOTIFY", "STORE", "setup"]
