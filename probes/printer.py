"""The printer/copier probe (``kind: snmp_printer``): one SNMP poll → one :class:`Reading`."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

from probes import parsing
from probes import printer_mib as mib
from probes.errors import SnmpAuthError, SnmpError
from probes.model import PollCost, Reading
from probes.parsing import Rows, Thresholds
from probes.snmp import Cost, SnmpClient, SnmpTarget, Value

log = logging.getLogger(__name__)

# A printer is an agent with Printer-MIB (RFC 3805) data. hrPrinterTable alone is not enough: a
# Windows host lists its print queues ("Microsoft Print to PDF") there, with a status and an
# error state, and has no Printer-MIB.
PRINTER_MIB_PREFIXES = ("1.3.6.1.2.1.43.",)


class PrinterProbe:
    """Polls a printer over SNMP.

    ``collect(target, full=False)`` walks only the columns that change (levels, status, alerts,
    counters) and reuses the static ones (names, capacities, serial) from the last full poll of
    that target; the first poll of a target is always full. Never raises for device trouble: an
    unreachable, mis-authenticated, non-printer or garbled device is a reading with ``error``.
    """

    name = "snmp_printer"

    def __init__(self, client: SnmpClient, thresholds: Thresholds | None = None) -> None:
        self._client = client
        self._thresholds = thresholds or parsing.DEFAULT_THRESHOLDS
        self._static: dict[SnmpTarget, dict[str, Value]] = {}

    async def collect(
        self, target: SnmpTarget, device: str | None = None, *, full: bool = True
    ) -> Reading:
        name = device or target.host
        cost = Cost()
        started = time.perf_counter()
        static = self._static.get(target)
        full = full or static is None
        try:
            rows: dict[str, Value] = dict(
                await self._client.get(target, mib.SYSTEM_SCALARS, cost)
            )
            columns = mib.POLL_COLUMNS if full else mib.DYNAMIC_COLUMNS
            walked = await self._client.walk_columns(target, columns, cost)
        except SnmpAuthError as err:
            return self._failed(name, target, f"auth_failed: {err.detail}", cost, started)
        except SnmpError as err:
            return self._failed(name, target, str(err), cost, started)
        if full:
            self._static[target] = {
                oid: v for oid, v in walked.items()
                if not any(oid.startswith(d + ".") for d in mib.DYNAMIC_COLUMNS)
            }
        else:
            walked = {**(static or {}), **walked}
        rows.update(walked)
        poll_cost = PollCost(round(time.perf_counter() - started, 6), cost.pdus, cost.retries)
        try:
            return self.parse(rows, device=name, host=target.host, cost=poll_cost)
        except Exception as err:  # a garbled answer must never crash the caller
            log.debug("cannot parse answer of %s", name, exc_info=True)
            return Reading(device=name, host=target.host, probe=self.name, reachable=True,
                           error=f"malformed answer: {err}", status="unknown", cost=poll_cost)

    def forget(self, target: SnmpTarget) -> None:
        """Drop cached static columns so that the next poll is full."""
        self._static.pop(target, None)

    def parse(self, rows: Rows, *, device: str, host: str, cost: PollCost | None = None
              ) -> Reading:
        """Pure: raw rows of one poll → Reading."""
        printer_mib = any(oid.startswith(PRINTER_MIB_PREFIXES) for oid in rows)
        if not printer_mib and not parsing.host_resources_printer(rows):
            return Reading(
                device=device, host=host, probe=self.name, reachable=True, status="unknown",
                error="not a printer: no Printer-MIB (1.3.6.1.2.1.43) data",
                identity=parsing.parse_identity(rows), uptime_seconds=parsing.uptime_seconds(rows),
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
        return Reading(
            device=device,
            host=host,
            probe=self.name,
            reachable=True,
            status=status,
            identity=parsing.parse_identity(rows),
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

    def _failed(self, name: str, target: SnmpTarget, error: str, cost: Cost, started: float
                ) -> Reading:
        return Reading(
            device=name, host=target.host, probe=self.name, reachable=False, error=error,
            status="unreachable",
            cost=PollCost(round(time.perf_counter() - started, 6), cost.pdus, cost.retries),
        )


def mark_stale(previous: Reading, failed: Reading) -> Reading:
    """A sleeping printer: keep the last good values, flagged stale, with the new error/cost."""
    return replace(previous, time=failed.time, stale=True, error=failed.error, cost=failed.cost)
