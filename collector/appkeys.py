"""Typed keys of the collector's aiohttp application state (STYLE 8)."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from collector.config import Config
from collector.pipeline import ReadingSink

CONFIG = web.AppKey("config", Config)
# Every reading (SNMP poll, connectivity probe, agent report) is handed to each sink in order.
SINKS = web.AppKey("sinks", list[ReadingSink])
# The one shared client session for outgoing HTTP (InfluxDB, webhooks).
HTTP = web.AppKey("http", aiohttp.ClientSession)
