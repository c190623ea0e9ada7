"""The printer/copier probe (``kind: snmp_printer``): one SNMP poll → one :class:`Reading`."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar, Literal, cast

from pydantic import Field

from probes import parsing
from probes import printer_mib as mib
from probes.base import ProbeSettings, Resources, Target
from probes.errors import SnmpAuthError, SnmpError
from probes.model import RESULTS, Identity, PollCost, Reading, Result
from probes.parsing import Rows, Thresholds, pooled
from probes.snmp import Cost, SnmpClient, SnmpTarget, Value

log = logging.getLogger(__name__)

# A printer is an agent with Printer-MIB (RFC 3805) data. hrPrinterTable alone is not enough: a
# Windows host lists its print queues ("Microsoft Print to PDF") there, with a status and an
# error state, and has no Printer-MIB.
PRINTER_MIB_PREFIXES = ("1.3.6.1.2.1.43.",)
_PRINTER_COLUMNS = tuple(c for c in mib.POLL_COLUMNS if c not in mib.IDENTITY_COLUMNS)
_DYNAMIC_ROW_PREFIXES = tuple(c + "." for c in mib.DYNAMIC_ROW_COLUMNS)  # one startswith call


# Shared parts of the static caches, across targets: the OIDs of printers of one model (and
# firmware) are the same tuple, and so are most of their OCTET STRING values (supply and tray
# names, media, model). Ints are not pooled: an entry would cost more than the int. Each pool
# is bounded: when full it is emptied, and only the caches made after that stop sharing with
# the older ones.
SHARED_POOL_SIZE = 32_768
_shapes: dict[tuple[str, ...], tuple[str, ...]] = {}
_values: dict[bytes, bytes] = {}


def _shared_shape(oids: tuple[str, ...]) -> tuple[str, ...]:
    return pooled(_shapes, oids, SHARED_POOL_SIZE)


def _shared_value(value: Value) -> Value:
    return pooled(_values, value, SHARED_POOL_SIZE) if type(value) is bytes else value


@dataclass(slots=True)
class _Known:
    """What the last full poll of a target found: its static values (names, capacities, serial,
    system scalars but uptime) as OIDs and values in the order they came (shared with other
    targets where equal: :func:`_shared_shape`, :func:`_shared_value`), the instances of its
    dynamic row columns (one level per supply, ...), and how many alerts it had. A fleet keeps
    one per printer: tuples beat a dict per printer (docs/benchmarks.md, "Issue 9 follow-up").
    ``own``: (position, OID) of the rows named after the target's own address (the
    ipAddrTable row of :func:`_full_get`), whose place in the shared ``static_oids`` holds
    their column's OID instead, so that printers of one model share one shape."""

    static_oids: tuple[str, ...]
    static_values: tuple[Value, ...]
    dynamic_oids: tuple[str, ...]
    alerts: int
    own: tuple[tuple[int, str], ...] = ()
    # The identity the full poll parsed: it is made of static rows only, so light polls reuse it
    # instead of scanning every row again for firmware, MAC and serial.
    identity: Identity | None = None


@functools.lru_cache(maxsize=65536)
def _full_get(host: str) -> tuple[str, ...]:
    """The GET of a full poll: the system scalars, and for a target polled by IPv4 address the
    index of the interface that carries it (ipAdEntIfIndex, for the MAC: parsing.parse_mac). In
    the same request, so it costs no PDU on v2c/v3; a v1 agent without that row answers
    noSuchName and is asked once more without it."""
    ip = parsing.ipv4_literal(host)
    return mib.SYSTEM_SCALARS if ip is None else (*mib.SYSTEM_SCALARS,
                                                   f"{mib.IP_AD_ENT_IF_INDEX}.{ip}")


_OWN_ADDRESS_PREFIX = mib.IP_AD_ENT_IF_INDEX + "."


def _static_oids(known: _Known) -> tuple[str, ...]:
    """The static OIDs of ``known`` with its own rows back in their places."""
    if not known.own:
        return known.static_oids
    oids = list(known.static_oids)
    for position, oid in known.own:
        oids[position] = oid
    return tuple(oids)


def _alert_rows(rows: Mapping[str, Value]) -> int:
    prefix = mib.PRT_ALERT_ENTRY + "."
    return len({oid[len(prefix):].partition(".")[2] for oid in rows if oid.startswith(prefix)})


class PrinterProbe:
    """Polls a printer over SNMP.

    ``collect(target, full=False)`` is a light poll: one GET of the uptime and of the dynamic
    values of the rows the last full poll found (levels, status, error state, counters), and a
    walk of the alert table sized by its last length; the static columns (names, capacities,
    serial) are reused. The first poll of a target is always full, and so is the one after a
    light poll that found a known row gone. Never raises for device trouble: an unreachable,
    mis-authenticated, non-printer or garbled device is a reading with ``error``.
    """

    name = "snmp_printer"

    def __init__(self, client: SnmpClient, thresholds: Thresholds | None = None) -> None:
        self._client = client
        self._thresholds = thresholds or parsing.DEFAULT_THRESHOLDS
        self._known: dict[SnmpTarget, _Known] = {}

    async def collect(
        self, target: SnmpTarget, device: str | None = None, *, full: bool = True,
        deadline: float | None = None,
    ) -> Reading:
        """One poll. ``deadline``: seconds the whole poll may take, all requests and retries
        included (None: :func:`poll_deadline` of the target). Whatever the agent sends, the poll
        ends by then."""
        name = device or target.host
        cost = Cost()
        started = time.perf_counter()
        known = None if full else self._known.get(target)
        if deadline is None:
            deadline = poll_deadline(target)
        try:
            async with asyncio.timeout(deadline):
                rows, walked = await self._ask(target, known, cost)
        except TimeoutError:
            # The per-request timeouts did not end it: an agent that answers, but slowly.
            return self._failed(name, target, "timeout",
                                f"timeout: the poll took longer than {deadline:g} s", cost, started)
        except SnmpAuthError as err:
            return self._failed(name, target, "auth_failed", f"auth_failed: {err.detail}", cost,
                                started)
        except SnmpError as err:
            result = cast(Result, err.reason if err.reason in RESULTS else "snmp_error")
            return self._failed(name, target, result, str(err), cost, started)
        identity = None
        if known is None:

            rows.update(walked)
            self._known[target] = known = self._learn(rows)
        else:
            if any(oid not in rows for oid in known.dynamic_oids):
                self.forget(target)  # a supply, tray or engine went away: re-read all next time
            known.alerts = _alert_rows(walked)
            static = dict(zip(_static_oids(known), known.static_values, strict=True))
            static.update(rows)
            static.update(walked)
            rows = static
            identity = known.identity
        poll_cost = PollCost(round(time.perf_counter() - started, 6), cost.pdus, cost.retries)
        try:
            reading = self.parse(rows, device=name, host=target.host, cost=poll_cost,
                                 identity=identity)
            known.identity = reading.identity
            return reading
        except Exception as err:  # a garbled answer must never crash the caller
            log.debug("cannot parse answer of %s", name, exc_info=True)
            return Reading(device=name, host=target.host, probe=self.name, reachable=True,
                           result="parse_error", error=f"parse_error: {err}", status="unknown",
                           cost=poll_cost)

    async def _ask(self, target: SnmpTarget, known: _Known | None, cost: Cost
                   ) -> tuple[dict[str, Value], dict[str, Value]]:
        """The SNMP exchange of one poll: (GET answers, walked rows). Raises SnmpError."""
        if known is None:
            oids = _full_get(target.host)
            try:
                rows = await self._client.get(target, oids, cost)
            except SnmpError as err:
                if err.reason != "snmp_error" or oids is mib.SYSTEM_SCALARS:
                    raise
                # An agent that answers the ipAddrTable row with an error-status (genErr, say)
                # instead of noSuch*: the MAC falls back to the interface rule, the poll goes on.
                rows = await self._client.get(target, mib.SYSTEM_SCALARS, cost)
            try:
                return rows, await self._client.walk_columns(target, mib.POLL_COLUMNS, cost)
            except SnmpError as err:
                if err.reason != "snmp_error":
                    raise
                # Likewise for a walk that errs on the IF-MIB / ENTITY-MIB columns: walked
                # again without them (no firmware from ENTITY-MIB, no MAC, the rest as before).
                return rows, await self._client.walk_columns(target, _PRINTER_COLUMNS, cost)
        rows = await self._client.get(target, (mib.SYS_UPTIME, *known.dynamic_oids), cost)
        # Every repetition past the alert table's end is decoded for nothing.
        return rows, await self._client.walk_columns(target, mib.ALERT_COLUMN_OIDS, cost,
                                                     max_repetitions=known.alerts + 1)

    def forget(self, target: SnmpTarget) -> None:
        """Drop cached static columns so that the next poll is full."""
        self._known.pop(target, None)

    @staticmethod
    def _learn(rows: Mapping[str, Value]) -> _Known:
        oids: list[str] = []
        values: list[Value] = []
        dynamic: list[str] = []
        own: list[tuple[int, str]] = []
        for oid, value in rows.items():
            if oid.startswith(_DYNAMIC_ROW_PREFIXES):
                dynamic.append(oid)
            elif oid != mib.SYS_UPTIME and not oid.startswith(mib.PRT_ALERT_ENTRY + "."):
                if oid.startswith(_OWN_ADDRESS_PREFIX):
                    own.append((len(oids), oid))
                    oid = mib.IP_AD_ENT_IF_INDEX
                oids.append(oid)
                values.append(_shared_value(value))
        return _Known(_shared_shape(tuple(oids)), tuple(values), _shared_shape(tuple(dynamic)),
                      _alert_rows(rows), tuple(own))

    def parse(self, rows: Rows, *, device: str, host: str, cost: PollCost | None = None,
              identity: Identity | None = None) -> Reading:
        """Pure: raw rows of one poll → Reading. ``identity``: the one parsed from the same
        static rows at the last full poll (else it is parsed from ``rows``)."""
        if identity is None:
            identity = parsing.parse_identity(rows, host)
        printer_mib = any(oid.startswith(PRINTER_MIB_PREFIXES) for oid in rows)
        if not printer_mib and not parsing.host_resources_printer(rows):
            return Reading(
                device=device, host=host, probe=self.name, reachable=True, status="unknown",
                result="not_a_printer", error="not a printer: no Printer-MIB (1.3.6.1.2.1.43) data",
                identity=identity, uptime_seconds=parsing.uptime_seconds(rows),
                cost=cost or PollCost(),
            )
        faults, error_hex = parsing.printer_faults(rows)
        supplies = parsing.parse_supplies(rows, self._thresholds)
        trays = parsing.parse_trays(rows, self._thresholds)
        alerts = parsing.parse_alerts(rows)
        device_status = parsing.worst_status(rows, mib.HR_DEVICE_STATUS,
                                             mib.HR_DEVICE_STATUS_NAMES, mib.HR_DEVICE_STATUS_RANK)
        status, problems = parsing.evaluate(
            faults=faults, device_status=device_status, alerts=alerts, supplies=supplies,
            trays=trays,
        )
        result: Result = "ok"
        error = None
        wrong = parsing.mistyped(rows)
        if wrong:
            # A garbled value may hide a fault: never read healthier than unknown.
            result, status = "parse_error", "unknown"
            error = f"parse_error: {wrong[0]}" + (f" (and {len(wrong) - 1} more)"
                                                   if len(wrong) > 1 else "")
            problems = (*wrong, *problems)
        return Reading(
            device=device,
            host=host,
            probe=self.name,
            reachable=True,
            result=result,
            error=error,
            status=status,
            identity=identity,
            uptime_seconds=parsing.uptime_seconds(rows),
            device_status=device_status,
            printer_status=parsing.worst_status(
                rows, mib.HR_PRINTER_STATUS, mib.HR_PRINTER_STATUS_NAMES,
                mib.HR_PRINTER_STATUS_RANK,
            ),
            faults=faults,
            error_state_hex=error_hex,
            alerts=alerts,
            supplies=supplies,
            trays=trays,
            page_counters=parsing.parse_counters(rows),
            problems=problems,
            cost=cost or PollCost(),
        )

    def _failed(self, name: str, target: SnmpTarget, result: Result, error: str, cost: Cost,
                started: float) -> Reading:
        return Reading(
            device=name, host=target.host, probe=self.name, reachable=False, result=result,
            error=error,
            status="unreachable",
            cost=PollCost(round(time.perf_counter() - started, 6), cost.pdus, cost.retries),
        )


def mark_stale(previous: Reading, failed: Reading) -> Reading:
    """A sleeping printer: keep the last good values, flagged stale, with the new error/cost."""
    return replace(previous, time=failed.time, stale=True, result=failed.result,
                   error=failed.error, cost=failed.cost)


class PrinterSettings(ProbeSettings):
    kind: Literal["snmp_printer"] = "snmp_printer"
    full_every: int = Field(10, ge=1, description="walk the static columns (names, capacities, "
                            "serial) every this many polls; the polls between read levels and "
                            "status only")


# A poll without a configured deadline (``fleetwatch check``) may take as long as this many
# requests that each use all their tries: the GET of the scalars, the walk, and one spare.
POLL_REQUESTS = 3


def poll_deadline(target: SnmpTarget) -> float:
    """The deadline of a poll that was given none: ``timeout × (retries + 1) × POLL_REQUESTS``.
    A dead device ends sooner (its first request's tries); an agent that keeps answering (a
    walk that never ends, slow answers) is cut here."""
    return target.timeout * (target.retries + 1) * POLL_REQUESTS


def snmp_deadline(settings: ProbeSettings, target: SnmpTarget) -> float:
    """The deadline of one printer poll: the probe's ``timeout``, but never shorter than one
    request's tries (``timeout × (retries + 1)`` of its SNMP profile, plus a second), else the
    profile's retries could never happen."""
    return max(settings.timeout, target.timeout * (target.retries + 1) + 1.0)


class SnmpPrinter:
    """``kind: snmp_printer``: Printer-MIB and HOST-RESOURCES-MIB over SNMP (:class:`PrinterProbe`),
    full every ``full_every`` polls, light between."""

    kind: ClassVar[str] = "snmp_printer"
    settings: ClassVar[type[ProbeSettings]] = PrinterSettings
    sleeps: ClassVar[bool] = True  # printers doze and stop answering SNMP for a while

    def __init__(self, resources: Resources) -> None:
        self._probe = PrinterProbe(resources.snmp)

    async def collect(self, target: Target) -> Reading:
        assert target.snmp is not None, "an SNMP probe needs the device's SNMP target"
        settings = cast(PrinterSettings, target.settings)
        return await self._probe.collect(
            target.snmp, target.device, full=target.poll % settings.full_every == 0,
            deadline=snmp_deadline(settings, target.snmp))

    def forget(self, target: Target) -> None:
        if target.snmp is not None:
            self._probe.forget(target.snmp)
