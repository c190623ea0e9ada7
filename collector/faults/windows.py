"""When a ticket may open: maintenance windows and business hours, in the device's time zone."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping
from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.config import DeviceConfig, Schedule

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=64)
def zone_of(name: str) -> dt.tzinfo:
    """The time zone named ``name``; UTC (logged once) when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone %r, using UTC", name)
        return dt.UTC


def effective_schedule(device: DeviceConfig, sites: Mapping[str, Schedule]) -> Schedule:
    """The device's schedule, completed from its site's: the config loader already merges the
    two, but hand-built configs (and tests) may give only the site's.

    Time zone: the device's own (``device.timezone``), else a zone set on its schedule, else
    its site's, else UTC. An explicit device ``timezone: UTC`` wins over the site's zone."""
    site = sites.get(device.site) if device.site else None
    own = device.schedule
    if device.timezone is not None:
        tz = device.timezone
    elif own.timezone != "UTC" or site is None:
        tz = own.timezone
    else:
        tz = site.timezone
    if site is None:
        return own if tz == own.timezone else replace(own, timezone=tz)
    hours = own.business_hours or site.business_hours
    maintenance = tuple(dict.fromkeys((*own.maintenance, *site.maintenance)))
    return Schedule(business_hours=hours, maintenance=maintenance, timezone=tz)


def suppression(schedule: Schedule, now: float) -> str | None:
    """Why a new ticket may not open at ``now`` (maintenance window, outside business hours),
    or None when it may."""
    zone = zone_of(schedule.timezone)
    local = dt.datetime.fromtimestamp(now, zone)
    for m in schedule.maintenance:
        # the loader gives windows a zone; a hand-built naive one means the schedule's
        start = m.start if m.start.tzinfo else m.start.replace(tzinfo=zone)
        end = m.end if m.end.tzinfo else m.end.replace(tzinfo=zone)
        if start <= local < end:
            why = f": {m.reason}" if m.reason else ""
            return f"maintenance window {m.start.isoformat()} – {m.end.isoformat()}{why}"
    if schedule.business_hours:
        t = local.time().replace(tzinfo=None)
        for w in schedule.business_hours:
            if local.weekday() in w.days and w.start <= t and (
                    t < w.end or w.end == dt.time.max):
                return None
        return f"outside business hours ({schedule.timezone})"
    return None
