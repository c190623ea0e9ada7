"""The fault engine as tables: readings over time → tickets and their timelines.

Each case is a list of polls (seconds after the start, reading) fed through the real engine and a
real SQLite store; the expected result is every ticket as (device, fault key, state, timeline),
where the timeline lists event kinds, state changes as ``state:<to>`` and severity changes as
``severity:<to>``. The clock is injected: nothing sleeps.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from collector.config import (
    DeviceConfig,
    MaintenanceWindow,
    Schedule,
    Threshold,
    TicketSettings,
    WeeklyWindow,
)
from collector.config.loader import load_config
from collector.faults.catalogue import CATALOGUE
from collector.faults.engine import FaultEngine
from collector.faults.observe import observe, threshold_level
from collector.faults.windows import effective_schedule, suppression
from collector.tickets.store import Ticket, TicketQuery, TicketStore
from probes import printer_mib as mib
from probes.model import Reading
from probes.registry import probe_settings
from tests.collector.conftest import Clock, alert, down, ping, printer, toner

START = Clock().now
PRINTER = DeviceConfig(name="p1", host="192.0.2.1", probes=(probe_settings("snmp_printer"),))
SWITCH = DeviceConfig(name="sw", host="192.0.2.9", kind="network", probes=(probe_settings("ping"),))
BEHIND = replace(PRINTER, parent="sw")
PC = DeviceConfig(name="pc", host="192.0.2.5", kind="workstation",
                  probes=(probe_settings("ping"),),
                  thresholds=(Threshold("disk_used_percent", warning=90, critical=95,
                                        hysteresis=2),))
SETTINGS = TicketSettings(debounce_polls=2, debounce_seconds=0, flap_window=600,
                          auto_resolve=True, clear_polls=1)

OK = printer()
JAM = printer(faults={"jammed"})
DOWN = down()

Action = Callable[[TicketStore], Awaitable[None]]
Poll = tuple[float, Reading | Action]


def every(readings: Sequence[Reading | Action], start: float = 0, step: float = 60) -> list[Poll]:
    return [(start + i * step, r) for i, r in enumerate(readings)]


def close_first(by: str = "alice") -> Action:
    async def act(store: TicketStore) -> None:
        tickets, _ = await store.find(TicketQuery(newest_first=False))
        await store.change(tickets[0].id, by=by, at=START, state="closed")
    return act


def disk(value: float) -> Reading:
    return Reading(device="pc", host="192.0.2.5", probe="agent",
                   metrics=(("disk_used_percent", value),))


@dataclass
class Case:
    polls: list[Poll]
    expected: list[tuple[str, str, str, list[str]]]
    settings: TicketSettings = SETTINGS
    devices: tuple[DeviceConfig, ...] = (PRINTER,)
    sites: dict[str, Schedule] = field(default_factory=dict)


CASES = {
    "one poll is not enough": Case(every([JAM, OK, JAM, OK]), []),
    "two polls open it, a clear resolves it": Case(
        every([JAM, JAM, OK]),
        [("p1", "jammed", "resolved", ["opened", "cleared", "state:resolved"])]),
    "debounce in seconds": Case(
        every([JAM, JAM]), [],
        settings=replace(SETTINGS, debounce_polls=1, debounce_seconds=90)),
    "debounce in seconds, long enough": Case(
        every([JAM, JAM, JAM]), [("p1", "jammed", "open", ["opened"])],
        settings=replace(SETTINGS, debounce_polls=1, debounce_seconds=90)),
    "clear_polls: one good poll does not clear": Case(
        every([JAM, JAM, OK, JAM, OK, OK]),
        [("p1", "jammed", "resolved", ["opened", "cleared", "state:resolved"])],
        settings=replace(SETTINGS, clear_polls=2)),
    "auto_resolve off: the ticket waits for a technician": Case(
        every([JAM, JAM, OK, JAM, OK]),
        [("p1", "jammed", "open", ["opened", "cleared", "recurred", "cleared"])],
        settings=replace(SETTINGS, auto_resolve=False)),
    "a flap reopens the same ticket": Case(
        every([JAM, JAM, OK, JAM, OK, JAM]),
        [("p1", "jammed", "open", ["opened", "cleared", "state:resolved", "recurred",
                                   "state:open", "cleared", "recurred"])]),
    "a flapping ticket resolves after a quiet flap window": Case(
        every([JAM, JAM, OK, JAM, OK] + [OK] * 10),
        [("p1", "jammed", "resolved", ["opened", "cleared", "state:resolved", "recurred",
                                       "state:open", "cleared", "state:resolved"])]),
    "back after the flap window: a new ticket": Case(
        every([JAM, JAM, OK]) + every([JAM, JAM], start=1000),
        [("p1", "jammed", "resolved", ["opened", "cleared", "state:resolved"]),
         ("p1", "jammed", "open", ["opened"])]),
    "closed is final: a return opens a new ticket": Case(
        every([JAM, JAM, close_first(), OK, JAM, JAM]),
        [("p1", "jammed", "closed", ["opened", "state:closed"]),
         ("p1", "jammed", "open", ["opened"])]),
    "stale readings (asleep?) open nothing": Case(
        every([printer(stale=True)] * 5), []),
    "stale readings do not clear a fault": Case(
        every([JAM, JAM, printer(stale=True), printer(stale=True)]),
        [("p1", "jammed", "open", ["opened"])]),
    "unreachable after the grace opens a ticket, an answer resolves it": Case(
        every([DOWN, DOWN, OK]),
        [("p1", "unreachable", "resolved", ["opened", "cleared", "state:resolved"])]),
    "a timeout does not clear a jam": Case(
        every([JAM, JAM, DOWN, DOWN, JAM]),
        [("p1", "jammed", "open", ["opened"]),
         ("p1", "unreachable", "resolved", ["opened", "cleared", "state:resolved"])]),
    "error bit and alert of the same jam are one ticket": Case(
        every([printer(faults={"jammed"}, alerts=[alert("jam")])] * 2),
        [("p1", "jammed", "open", ["opened"])]),
    "door open seen only in the alert table": Case(
        every([printer(alerts=[alert("subunit_opened", group="cover")])] * 2),
        [("p1", "door_open", "open", ["opened"])]),
    "informational alerts open nothing": Case(
        every([printer(alerts=[alert("subunit_power_saver", group="general_printer",
                                     severity="warning_binary_change_event")])] * 3), []),
    "an unknown critical alert opens a ticket for its group": Case(
        every([printer(alerts=[alert("subunit_at_limit", group="fin_device")])] * 2),
        [("p1", "alert_fin_device", "open", ["opened"])]),
    "device down without an error bit": Case(
        every([printer(device_status="down")] * 2),
        [("p1", "device_down", "open", ["opened"])]),
    "low toner: one reorder ticket, resolved by a new cartridge": Case(
        every([printer(faults={"low_toner"}, supplies=[toner(8)]),
               printer(faults={"low_toner"}, supplies=[toner(7)]),
               printer(supplies=[toner(0)]),
               printer(supplies=[toner(30)]),  # not a new cartridge: stays open
               printer(supplies=[toner(100)])]),
        [("p1", "reorder:1.1", "resolved", ["opened", "severity:critical", "cleared",
                                            "state:resolved"])],
        settings=replace(SETTINGS, auto_resolve=False)),  # reorders resolve regardless
    "the next cartridge running low is a new order, not a reopen": Case(
        every([printer(supplies=[toner(8)])] * 2 + [printer(supplies=[toner(100)])]
              + [printer(supplies=[toner(9)])] * 2),
        [("p1", "reorder:1.1", "resolved", ["opened", "cleared", "state:resolved"]),
         ("p1", "reorder:1.1", "open", ["opened"])]),
    "threshold with hysteresis": Case(
        every([disk(91), disk(91), disk(96), disk(94), disk(92), disk(89), disk(87)]),
        [("pc", "threshold:disk_used_percent", "resolved",
          ["opened", "severity:critical", "severity:warning", "cleared", "state:resolved"])],
        devices=(PC,)),
    "a ping reading does not clear a threshold": Case(
        every([disk(91), disk(91), ping("pc"), ping("pc")]),
        [("pc", "threshold:disk_used_percent", "open", ["opened"])], devices=(PC,)),
    "parent down: no ticket of its own, the parent's ticket notes it": Case(
        every([down("sw", "ping"), down(), down("sw", "ping"), down(), down(), down()],
              step=30),
        [("sw", "unreachable", "open", ["opened", "note"])], devices=(SWITCH, BEHIND)),
    "a silent (stale) parent counts as down": Case(
        every([replace(ping("sw"), stale=True), down(), down(), down()], step=30), [],
        devices=(SWITCH, BEHIND)),
    "parent up: the device gets its own ticket": Case(
        every([ping("sw"), down(), down()], step=30),
        [("p1", "unreachable", "open", ["opened"])], devices=(SWITCH, BEHIND)),
    "parent back: the debounce starts over": Case(
        every([down("sw", "ping"), down(), down(), ping("sw"), down(), down()], step=30),
        [("p1", "unreachable", "open", ["opened"])], devices=(SWITCH, BEHIND)),
    "maintenance window holds the ticket back, and the ticket says so": Case(
        every([JAM] * 8),
        [("p1", "jammed", "open", ["opened", "note"])],
        devices=(replace(PRINTER, site="hq"),),
        sites={"hq": Schedule(maintenance=(MaintenanceWindow(
            dt.datetime.fromtimestamp(START - 60, dt.UTC),
            dt.datetime.fromtimestamp(START + 300, dt.UTC), "printer swap"),))}),
    "a fault gone before the window ends opens nothing": Case(
        every([JAM, JAM, JAM, OK, OK]), [],
        devices=(replace(PRINTER, site="hq"),),
        sites={"hq": Schedule(maintenance=(MaintenanceWindow(
            dt.datetime.fromtimestamp(START - 60, dt.UTC),
            dt.datetime.fromtimestamp(START + 300, dt.UTC)),))}),
    "windows hold new tickets only: a flap still reopens": Case(
        every([JAM, JAM, OK, JAM]),
        [("p1", "jammed", "open", ["opened", "cleared", "state:resolved", "recurred",
                                   "state:open"])],
        devices=(replace(PRINTER, site="hq"),),
        sites={"hq": Schedule(maintenance=(MaintenanceWindow(
            dt.datetime.fromtimestamp(START + 90, dt.UTC),
            dt.datetime.fromtimestamp(START + 900, dt.UTC)),))}),
}


def _token(kind: str, data: dict[str, Any]) -> str:
    return f"{kind}:{data['to']}" if kind in {"state", "severity"} else kind


async def timelines(store: TicketStore) -> list[tuple[str, str, str, list[str]]]:
    tickets, _ = await store.find(TicketQuery(limit=500, newest_first=False))
    out = []
    for t in tickets:
        events, _ = await store.events(t.id)
        out.append((t.device or "", t.fault_key or "", t.state,
                    [_token(e.kind, dict(e.data)) for e in events]))
    return out


async def run(case: Case, store: TicketStore, clock: Clock,
              notices: list[tuple[str, Ticket]] | None = None) -> FaultEngine:
    engine = FaultEngine(store, case.settings, sites=case.sites, devices=case.devices,
                         notify=(lambda e, t: notices.append((e, t))) if notices is not None
                         else None, now=clock)
    by_name = {d.name: d for d in case.devices}
    for offset, item in case.polls:
        clock.now = START + offset
        if isinstance(item, Reading):
            await engine.handle(item, by_name[item.device])
        else:
            await item(store)
    return engine


@pytest.mark.parametrize("name", list(CASES))
async def test_engine_table(name: str, store: TicketStore) -> None:
    case = CASES[name]
    await run(case, store, Clock())
    assert await timelines(store) == case.expected


async def test_notifications_on_open_resolve_and_reopen(store: TicketStore) -> None:
    notices: list[tuple[str, Ticket]] = []
    await run(Case(every([JAM, JAM, OK, JAM, OK, JAM, OK] + [OK] * 12), []), store, Clock(),
              notices)
    assert [(e, t.state) for e, t in notices] == [
        ("opened", "open"), ("resolved", "resolved"), ("reopened", "open"),
        ("resolved", "resolved")]
    assert {t.id for _, t in notices} == {1}


async def test_ticket_content(store: TicketStore) -> None:
    clock = Clock()
    await run(Case(every([printer(faults={"jammed"}, alerts=[alert("jam", description=
                                                                   "Jam in tray 2")])] * 2),
                   [], devices=(replace(PRINTER, site="hq", parent="sw"),)), store, clock)
    ticket = await store.get(1)
    assert ticket.kind == "fault" and ticket.severity == "critical"
    assert ticket.title == "p1: Paper jam" and ticket.site == "hq"
    assert "Jam in tray 2" in ticket.description
    assert ticket.details["parent"] == "sw" and ticket.details["code"] == "jammed"
    assert ticket.created_at == START + 60 and ticket.details["first_seen"] == START


async def test_reorder_ticket_carries_part_number(store: TicketStore) -> None:
    await run(Case(every([printer(supplies=[toner(6, part="W2030A")])] * 2), []), store, Clock())
    (ticket,), _ = await store.find(TicketQuery())
    assert ticket.kind == "reorder" and ticket.part_number == "W2030A"
    assert ticket.title == "p1: Reorder Black Toner W2030A" and ticket.severity == "warning"


async def test_reorder_title_adds_a_part_number_the_description_lacks(store: TicketStore) -> None:
    bare = replace(toner(6, part="W2030A"), description="Black Cartridge")
    await run(Case(every([printer(supplies=[bare])] * 2), []), store, Clock())
    (ticket,), _ = await store.find(TicketQuery())
    assert ticket.title == "p1: Reorder Black Cartridge (part W2030A)"


async def test_held_ticket_records_the_window(store: TicketStore) -> None:
    case = CASES["maintenance window holds the ticket back, and the ticket says so"]
    await run(case, store, Clock())
    ticket = await store.get(1)
    held = ticket.details["held"]
    assert "printer swap" in held["reason"] and held["since"] == START + 60
    assert ticket.created_at == START + 300 == held["until"]
    events, _ = await store.events(1)
    assert "maintenance window" in events[-1].text


async def test_business_hours(store: TicketStore) -> None:
    hours = Schedule(business_hours=(WeeklyWindow(frozenset(range(5)), dt.time(8), dt.time(18)),),
                     timezone="Europe/Berlin")
    saturday = dt.datetime(2027, 1, 16, 23, 0, tzinfo=dt.UTC).timestamp()
    monday_8 = dt.datetime(2027, 1, 18, 7, 0, tzinfo=dt.UTC).timestamp()  # 08:00 in Berlin
    assert suppression(hours, saturday) == "outside business hours (Europe/Berlin)"
    assert suppression(hours, monday_8 - 1) is not None
    assert suppression(hours, monday_8) is None
    clock = Clock(saturday)
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), now=clock)
    dev = replace(PRINTER, schedule=hours)
    for t in (saturday, saturday + 3600, monday_8 - 60):
        clock.now = t
        await engine.handle(JAM, dev)
    assert (await store.find(TicketQuery()))[1] == 0
    clock.now = monday_8
    await engine.handle(JAM, dev)
    ticket = await store.get(1)
    assert ticket.created_at == monday_8 and "outside business hours" in ticket.details[
        "held"]["reason"]


WEEKDAYS_8_18 = (WeeklyWindow(frozenset(range(5)), dt.time(8), dt.time(18)),)
# Monday 2027-01-18 08:00 in Tokyo (UTC+9): Sunday 23:00 UTC, Monday 00:00 in Berlin (UTC+1).
MONDAY_8_TOKYO = dt.datetime(2027, 1, 17, 23, 0, tzinfo=dt.UTC).timestamp()


def _tokyo_printer(how: str, tmp_path: Any) -> tuple[DeviceConfig, dict[str, Schedule]]:
    berlin = {"hq": Schedule(business_hours=WEEKDAYS_8_18, timezone="Europe/Berlin")}
    if how == "no site":  # the device's own hours and zone, nothing from a site
        return replace(PRINTER, timezone="Asia/Tokyo",
                       schedule=Schedule(business_hours=WEEKDAYS_8_18)), {}
    if how == "site elsewhere":  # the site's hours, counted in the device's zone
        return replace(PRINTER, site="hq", timezone="Asia/Tokyo"), berlin
    path = tmp_path / "fleet.yaml"  # through the loader, as `fleetwatch collector` does
    path.write_text(
        "sites:\n  hq:\n    timezone: Europe/Berlin\n"
        "    business_hours: [{days: mon-fri, start: '08:00', end: '18:00'}]\n"
        "devices:\n  - {name: p1, host: 192.0.2.1, site: hq, timezone: Asia/Tokyo}\n")
    config = load_config(path, env={})
    return config.devices[0], dict(config.sites)


@pytest.mark.parametrize("how", ["no site", "site elsewhere", "loaded"])
async def test_business_hours_in_the_devices_own_zone(store: TicketStore, tmp_path: Any,
                                                      how: str) -> None:
    dev, sites = _tokyo_printer(how, tmp_path)
    schedule = effective_schedule(dev, sites)
    assert schedule.timezone == "Asia/Tokyo" and schedule.business_hours == WEEKDAYS_8_18
    assert suppression(schedule, MONDAY_8_TOKYO - 1) == "outside business hours (Asia/Tokyo)"
    clock = Clock(MONDAY_8_TOKYO - 120)
    engine = FaultEngine(store, SETTINGS, sites=sites, devices=(dev,), now=clock)
    for t in (MONDAY_8_TOKYO - 120, MONDAY_8_TOKYO - 60):  # Sunday night in Tokyo: held
        clock.now = t
        await engine.handle(JAM, dev)
    assert (await store.find(TicketQuery()))[1] == 0 and engine.stats.held == 1
    clock.now = MONDAY_8_TOKYO  # still Sunday in UTC and midnight in Berlin
    await engine.handle(JAM, dev)
    ticket = await store.get(1)
    assert ticket.created_at == MONDAY_8_TOKYO
    assert ticket.details["held"]["reason"] == "outside business hours (Asia/Tokyo)"


def test_an_explicit_utc_device_zone_beats_the_sites() -> None:
    sites = {"hq": Schedule(business_hours=WEEKDAYS_8_18, timezone="Europe/Berlin")}
    assert effective_schedule(replace(PRINTER, site="hq", timezone="UTC"), sites).timezone == "UTC"
    assert effective_schedule(replace(PRINTER, site="hq"), sites).timezone == "Europe/Berlin"
    assert effective_schedule(PRINTER, sites).timezone == "UTC"


async def test_restart_resumes_without_duplicates(tmp_path: Any) -> None:
    path = tmp_path / "t.sqlite3"
    clock = Clock()
    store = await TicketStore.open(path)
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), now=clock)
    for i, r in enumerate([JAM, JAM, printer(faults={"door_open"}), printer(faults={"door_open"})]):
        clock.now = START + 60 * i
        await engine.handle(r, PRINTER)
    await store.close()
    before_events = None

    store = await TicketStore.open(path)  # a new process: new store, new engine
    engine = await _resumed(store, clock)
    tickets, total = await store.find(TicketQuery(newest_first=False))
    assert total == 2 and [t.fault_key for t in tickets] == ["jammed", "door_open"]
    jam_events, _ = await store.events(tickets[0].id)
    before_events = [e.kind for e in jam_events]
    assert before_events == ["opened", "cleared", "state"]
    for i in range(3):  # the door is still open, the jam comes back within the flap window
        clock.now = START + 300 + 60 * i
        await engine.handle(printer(faults={"door_open", "jammed"}), PRINTER)
    await store.close()

    store = await TicketStore.open(path)
    engine = await _resumed(store, clock)
    tickets, total = await store.find(TicketQuery(newest_first=False))
    assert total == 2, "no duplicate after two restarts"
    assert [(t.fault_key, t.state, t.recurrences) for t in tickets] == [
        ("jammed", "open", 1), ("door_open", "open", 0)]
    clock.now += 60
    await engine.handle(OK, PRINTER)
    tickets, _ = await store.find(TicketQuery(newest_first=False))
    assert [t.state for t in tickets] == ["open", "resolved"]  # jam flapped: held, door: resolved
    await store.close()


async def _resumed(store: TicketStore, clock: Clock) -> FaultEngine:
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), now=clock)
    await engine.resume()
    return engine


async def test_technician_resolve_then_fault_returns_in_window(store: TicketStore) -> None:
    clock = Clock()
    engine = FaultEngine(store, replace(SETTINGS, auto_resolve=False), devices=(PRINTER,),
                         now=clock)
    for i, r in enumerate([JAM, JAM, OK]):
        clock.now = START + 60 * i
        await engine.handle(r, PRINTER)
    await store.change(1, by="bob", at=clock.now, state="resolved", comment="cleared the path")
    clock.now += 60
    await engine.handle(JAM, PRINTER)
    ticket = await store.get(1)
    assert ticket.state == "open" and ticket.recurrences == 1
    assert (await store.find(TicketQuery()))[1] == 1


# --- pure parts ----------------------------------------------------------------------------------
def test_catalogue_covers_every_error_bit_and_alert_group() -> None:
    for bit in mib.ERROR_BITS:
        assert CATALOGUE[bit].severity == mib.FAULT_SEVERITY[bit] and CATALOGUE[bit].title
    for group in mib.ALERT_GROUP_NAMES.values():
        if group not in {"other", "unknown"}:
            assert f"alert_{group}" in CATALOGUE
    assert CATALOGUE["unreachable"].severity == "critical"
    assert all(spec.severity in {"info", "warning", "critical"} for spec in CATALOGUE.values())


@pytest.mark.parametrize(("values", "expected"), [
    ([89, 90, 94.9, 95, 93.5, 93, 88.5, 88], [None, "warning", "warning", "critical",
                                              "critical", "warning", "warning", None]),
])
def test_threshold_hysteresis_above(values: list[float], expected: list[str | None]) -> None:
    th = Threshold("disk_used_percent", warning=90, critical=95, hysteresis=2)
    level: str | None = None
    got = []
    for v in values:
        level = threshold_level(th, v, level)
        got.append(level)
    assert got == expected


def test_threshold_below() -> None:
    th = Threshold("supply_black_percent", warning=15, critical=5, direction="below",
                   hysteresis=1)
    assert threshold_level(th, 20, None) is None
    assert threshold_level(th, 15, None) == "warning"
    assert threshold_level(th, 4, "warning") == "critical"
    assert threshold_level(th, 5.5, "critical") == "critical"
    assert threshold_level(th, 6.5, "critical") == "warning"
    assert threshold_level(th, 15.5, "warning") == "warning"
    assert threshold_level(th, 16.5, "warning") is None


def test_printer_threshold_on_supply_metric() -> None:
    dev = replace(PRINTER, thresholds=(Threshold("supply_black_percent", warning=15,
                                                 direction="below"),))
    seen = observe(printer(supplies=[toner(12)]), dev, primary=True)
    assert seen.present["threshold:supply_black_percent"].severity == "warning"


def test_observe_scope() -> None:
    timeout = observe(DOWN, PRINTER, primary=True)
    assert set(timeout.present) == {"unreachable"} and timeout.covered == {"unreachable"}
    asleep = observe(printer(faults={"jammed"}, stale=True), PRINTER, primary=True)
    assert not asleep.present and not asleep.covered
    other_probe = observe(down(probe="http"), PRINTER, primary=False)
    assert set(other_probe.present) == {"unreachable:http"}
    answered = observe(OK, PRINTER, primary=True)
    assert not answered.present and {"jammed", "unreachable", "door_open"} <= answered.covered


def test_maintenance_window_without_zone_uses_the_schedules() -> None:
    window = MaintenanceWindow(dt.datetime(2027, 1, 15, 9, 0), dt.datetime(2027, 1, 15, 10, 0))
    berlin = Schedule(maintenance=(window,), timezone="Europe/Berlin")
    nine_berlin = dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC).timestamp()
    assert suppression(berlin, nine_berlin - 1) is None
    assert suppression(berlin, nine_berlin) is not None
    assert suppression(berlin, nine_berlin + 3600) is None


async def test_a_broken_store_never_breaks_polling(tmp_path: Any) -> None:
    store = await TicketStore.open(tmp_path / "t.sqlite3")
    clock = Clock()
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), now=clock)
    await engine.handle(JAM, PRINTER)
    await store.close()  # from now on every store call fails
    clock.now += 60
    await engine.handle(JAM, PRINTER)  # would open a ticket: logs instead of raising
    assert engine.stats.errors == 1 and engine.stats.opened == 0


@pytest.mark.parametrize("state", ["resolved", "closed"])
@pytest.mark.parametrize("restart", [False, True])
async def test_technician_ends_ticket_while_fault_present(tmp_path: Any, state: str,
                                                          restart: bool) -> None:
    """The fault stays on the ticket the technician ended, restart or not: no second ticket
    while it lasts; after it clears and returns past the flap window, a new one."""
    path = tmp_path / "t.sqlite3"
    clock = Clock()
    store = await TicketStore.open(path)
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), now=clock)
    for i in range(2):
        clock.now = START + 60 * i
        await engine.handle(JAM, PRINTER)
    await store.change(1, by="bob", at=clock.now, state=state, comment="known, leave it")
    if restart:
        await store.close()
        store = await TicketStore.open(path)
        engine = await _resumed(store, clock)
    for _ in range(5):
        clock.now += 60
        await engine.handle(JAM, PRINTER)
    tickets, total = await store.find(TicketQuery())
    assert total == 1 and tickets[0].state == state and tickets[0].fault_active
    clock.now += 60
    await engine.handle(OK, PRINTER)
    assert not (await store.get(1)).fault_active
    if restart:
        await store.close()
        store = await TicketStore.open(path)
        engine = await _resumed(store, clock)
    clock.now += SETTINGS.flap_window + 60
    for _ in range(2):
        clock.now += 60
        await engine.handle(JAM, PRINTER)
    tickets, total = await store.find(TicketQuery(newest_first=False))
    assert total == 2 and [(t.state, t.fault_active) for t in tickets] == [
        (state, False), ("open", True)]
    await store.close()


async def test_service_requested_weighs_what_the_printer_says(store: TicketStore) -> None:
    """serviceRequested with hrDeviceStatus warning is a warning ticket; when the printer goes
    down with it, the same ticket turns critical (RFC 3805 §2.2.13.2)."""
    asks = printer(faults={"service_requested"}, device_status="warning")
    stops = printer(faults={"service_requested"}, device_status="down")
    await run(Case(every([asks, asks, stops]), []), store, Clock())
    (ticket,), _ = await store.find(TicketQuery())
    assert ticket.fault_key == "service_requested" and ticket.severity == "critical"
    events, _ = await store.events(ticket.id)
    assert [e.kind for e in events] == ["opened", "severity"]
    assert "warning → critical" in events[-1].text
