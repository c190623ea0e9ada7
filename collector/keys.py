"""Every typed key of the collector's aiohttp application state (STYLE 8), in one place.

:mod:`collector.app` sets them while it builds the app and in its cleanup contexts; handlers read
them. A key set by a cleanup context exists only while the app runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from collector.auth.settings import AuthSettings
from collector.auth.store import AccountStore
from collector.config import Config
from collector.faults.engine import FaultEngine
from collector.ingest.service import Ingest
from collector.pipeline import ReadingSink
from collector.scheduler import Scheduler
from collector.state import StateCache
from collector.supplies.engine import SupplyEngine
from collector.supplies.stock import StockStore
from collector.tickets.store import Ticket, TicketStore
from collector.uptime.store import UptimeStore

CONFIG = web.AppKey("config", Config)
# Every reading (SNMP poll, connectivity probe, agent report) is handed to each sink in order.
SINKS = web.AppKey("sinks", list[ReadingSink])
# The one shared client session for outgoing HTTP (InfluxDB, webhooks, HTTP probes).
HTTP = web.AppKey("http", aiohttp.ClientSession)
# The latest reading of every device and probe (pages and device API).
STATE = web.AppKey("state", StateCache)
# name → object with a ``stats`` dataclass or dict, shown by /api/v1/health.
STATS = web.AppKey("stats", dict[str, Any])
SCHEDULER = web.AppKey("scheduler", Scheduler)
# The ticket queue, its fault engine, and the notifier's entry point (event, ticket).
STORE = web.AppKey("tickets_store", TicketStore)
ENGINE = web.AppKey("fault_engine", FaultEngine)
NOTIFY: web.AppKey[Callable[[str, Ticket], None]] = web.AppKey("tickets_notify")
# The uptime record (spans of up/down time per device; collector/uptime).
UPTIME = web.AppKey("uptime", UptimeStore)
# The supplies engine (forecasts, reorder advice) and the stock on the shelf (issue 12).
SUPPLIES = web.AppKey("supplies", SupplyEngine)
STOCK = web.AppKey("supplies_stock", StockStore)
# Agent reports in (enrollment, reports, silence watch; collector/ingest/).
INGEST = web.AppKey("ingest", Ingest)
# Accounts, sessions and tokens (collector.auth); the auth settings; the legacy shared bearer
# token (collector.api_token), which acts as the technician "api".
ACCOUNTS = web.AppKey("accounts", AccountStore)
AUTH = web.AppKey("auth_settings", AuthSettings)
LEGACY_TOKEN = web.AppKey("legacy_api_token", str)
