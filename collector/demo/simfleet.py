"""A simulated office fleet for the demo and the tests: printers and copiers of several makes
whose toner drains, trays empty and refill, and faults come and go over minutes.

This is Fleetwatch's own simulator data (made up, not captured). Each device is rendered as an
snmpsim ``.snmprec`` file (community = device name) and rewritten as its state changes; snmpsim
re-indexes a data file whose modification time changed, so pollers see the new values over real
SNMP. Standards-conformant: RFC 3805 supplies/inputs/alerts, RFC 2790 hrPrinter* objects.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

# (make, model, sysObjectID enterprise, colour?, kind, supplies: (description, part, yield pages))
MODELS: tuple[tuple[str, str, str, bool, str, tuple[tuple[str, str, int], ...]], ...] = (
    ("HP", "HP LaserJet Pro M404dn", "1.3.6.1.4.1.11.2.3.9.1", False, "printer",
     (("Black Toner HP 58A CF258A", "CF258A", 3000),)),
    ("HP", "HP Color LaserJet Pro M479fdw", "1.3.6.1.4.1.11.2.3.9.1", True, "printer",
     (("Black Toner HP 415A W2030A", "W2030A", 2400), ("Cyan Toner HP 415A W2031A", "W2031A", 2100),
      ("Magenta Toner HP 415A W2033A", "W2033A", 2100),
      ("Yellow Toner HP 415A W2032A", "W2032A", 2100))),
    ("Brother", "Brother HL-L5100DN", "1.3.6.1.4.1.2435.2.3.9.1", False, "printer",
     (("Black Toner Cartridge TN-850", "TN-850", 8000),)),
    ("Ricoh", "RICOH IM C3000", "1.3.6.1.4.1.367.1.1", True, "copier",
     (("Black Toner P/N 842307", "842307", 33000), ("Cyan Toner P/N 842310", "842310", 19000),
      ("Magenta Toner P/N 842309", "842309", 19000),
      ("Yellow Toner P/N 842308", "842308", 19000))),
    ("Xerox", "Xerox VersaLink C405", "1.3.6.1.4.1.253.8.62.1", True, "printer",
     (("Black Toner, PN 106R03500", "106R03500", 5000), ("Cyan Toner, PN 106R03502", "106R03502",
                                                          2500),
      ("Magenta Toner, PN 106R03503", "106R03503", 2500),
      ("Yellow Toner, PN 106R03501", "106R03501", 2500))),
    ("Kyocera", "ECOSYS M3655idn", "1.3.6.1.4.1.1347.41", False, "copier",
     (("TK-3182 Black Toner", "TK-3182", 21000),)),
    ("Canon", "Canon iR-ADV C3530", "1.3.6.1.4.1.1602.4.7", True, "copier",
     (("Canon C-EXV49 Black Toner", "C-EXV49", 36000), ("Canon C-EXV49 Cyan Toner", "C-EXV49", 19000),
      ("Canon C-EXV49 Magenta Toner", "C-EXV49", 19000),
      ("Canon C-EXV49 Yellow Toner", "C-EXV49", 19000))),
    ("Epson", "Epson WF-C5790", "1.3.6.1.4.1.1248.1.2", True, "printer",
     (("Black Ink T9451", "T9451", 5000), ("Cyan Ink T9452", "T9452", 5000),
      ("Magenta Ink T9453", "T9453", 5000), ("Yellow Ink T9454", "T9454", 5000))),
)
COLOURS = ("black", "cyan", "magenta", "yellow")
SITES = ("Main office", "Annex", "Library")

FAULT_BITS = ("low_paper", "no_paper", "low_toner", "no_toner", "door_open", "jammed", "offline",
              "service_requested", "input_tray_missing", "output_tray_missing",
              "marker_supply_missing", "output_near_full", "output_full", "input_tray_empty",
              "overdue_prevent_maint")


@dataclass
class SimSupply:
    description: str
    part: str
    colorant: int  # 1-based index into the colorant table, 0 = none
    type_code: int  # 3 toner, 4 waste toner, 5 ink, 9 opc
    class_code: int  # 3 consumed, 4 filled
    capacity: int
    # Consumed: what is left. Filled (a waste box): the space left, RFC 3805
    # prtMarkerSuppliesLevel, so it too counts down as pages print.
    level: int
    pages_per_unit: float  # pages that consume one unit of level
    # The office model (OfficeModel): the exact level behind the integer one, the share of a
    # page's coverage this supply takes, and the level at which this cartridge gets swapped
    # (negative: it is left empty for that many simulated days first, a late swap).
    exact: float | None = None
    share: float = 1.0
    swap_at: float = 0.0
    empty_since_t: float | None = None


@dataclass
class SimTray:
    name: str
    media: str
    type_code: int  # 3 removable tray, 5 manual feed
    capacity: int
    level: int


@dataclass
class SimPrinter:
    name: str
    model: str
    sys_object_id: str
    serial: str
    location: str
    colour: bool
    supplies: list[SimSupply]
    trays: list[SimTray]
    pages: int = 0
    uptime_ticks: int = 0
    jam_left: float = 0.0
    door_left: float = 0.0
    empty_since: dict[int, float] = field(default_factory=dict)  # supply → seconds empty
    tray_empty_for: dict[int, float] = field(default_factory=dict)
    forced_faults: set[str] = field(default_factory=set)  # set by tests
    pages_per_day: float = 0.0  # the office model's median pages per working day (0: unset)

    @property
    def mac(self) -> str:
        """A locally administered MAC (first octet 02) made from the name: stable across runs."""
        digest = hashlib.sha256(self.name.encode()).digest()[:5]
        return ":".join(f"{b:02x}" for b in (0x02, *digest))

    @property
    def firmware(self) -> str:
        """A made-up firmware revision, stable per serial (the asset list has a column for it)."""
        n = sum(self.serial.encode())
        return f"{2 + n % 3}.{n % 17:02d}.{n % 100}"

    def faults(self) -> set[str]:
        faults = set(self.forced_faults)
        if self.jam_left > 0:
            faults.add("jammed")
        if self.door_left > 0:
            faults.add("door_open")
        for s in self.supplies:
            if s.class_code == 3 and s.type_code in (3, 5):
                pct = 100 * s.level / s.capacity
                if s.level == 0:
                    faults.add("no_toner")
                elif pct <= 10:
                    faults.add("low_toner")
        auto = [t for t in self.trays if t.type_code != 5]
        if auto and all(t.level == 0 for t in auto):
            faults.add("no_paper")
        elif any(t.level <= t.capacity * 0.1 for t in auto):
            faults.add("low_paper")
        return faults

    def step(self, seconds: float, rng: random.Random, pages_per_minute: float = 12.0) -> None:
        """Advance the simulation: print pages, drain toner and paper, make and clear faults."""
        self.uptime_ticks += int(seconds * 100)
        self.jam_left = max(0.0, self.jam_left - seconds)
        self.door_left = max(0.0, self.door_left - seconds)
        stopped = bool({"jammed", "door_open", "no_toner", "no_paper"} & self.faults())
        if not stopped:
            printed = round(rng.expovariate(1.0) * pages_per_minute * seconds / 60.0)
            self.pages += printed
            for s in self.supplies:
                used = printed / s.pages_per_unit
                # toner/ink drains; a waste box's level (its free space) shrinks the same way
                waste = s.class_code == 4
                if waste or (s.type_code in (3, 5) and (s.colorant in (0, 1) or rng.random() < 0.6)):
                    s.level = max(0, s.level - max(0, round(used)))
            feeding = next((t for t in self.trays if t.type_code != 5 and t.level > 0), None)
            if feeding is not None:
                feeding.level = max(0, feeding.level - printed)
            if printed and rng.random() < 0.02 * seconds / 10:
                self.jam_left = rng.uniform(60, 180)
            if rng.random() < 0.005 * seconds / 10:
                self.door_left = rng.uniform(30, 90)
        for i, s in enumerate(self.supplies):  # someone replaces an empty cartridge eventually
            if s.class_code == 3 and s.level == 0:
                self.empty_since[i] = self.empty_since.get(i, 0.0) + seconds
                if self.empty_since[i] > 120:
                    s.level = s.capacity
                    self.empty_since.pop(i)
            if s.class_code == 4 and s.level <= 0:
                s.level = s.capacity  # waste box swapped: all space free again
        for i, t in enumerate(self.trays):  # and refills empty trays
            if t.type_code != 5 and t.level < t.capacity * 0.1:
                self.tray_empty_for[i] = self.tray_empty_for.get(i, 0.0) + seconds
                if self.tray_empty_for[i] > 90:
                    t.level = t.capacity
                    self.tray_empty_for.pop(i)

    def render(self) -> str:
        """The device as snmprec lines (OID|TAG|VALUE), in OID order."""
        faults = self.faults()
        bits = 0
        for n, name in enumerate(FAULT_BITS):
            if name in faults:
                bits |= 0x8000 >> n
        error_state = bits.to_bytes(2, "big") if bits & 0xFF else bits.to_bytes(2, "big")[:1]
        critical = {"jammed", "door_open", "no_toner", "no_paper"} & faults
        dev_status = 5 if critical else (3 if faults else 2)
        rows: list[tuple[str, str, str]] = [
            ("1.3.6.1.2.1.1.1.0", "4", f"{self.model}; simulated by Fleetwatch"),
            ("1.3.6.1.2.1.1.2.0", "6", self.sys_object_id),
            ("1.3.6.1.2.1.1.3.0", "67", str(self.uptime_ticks % 2**32)),
            ("1.3.6.1.2.1.1.5.0", "4", self.name),
            ("1.3.6.1.2.1.1.6.0", "4", self.location),
            # one ethernet interface and the ENTITY-MIB firmware revision: the MAC and firmware
            # of the asset list and the device page (docs/check-json.md "Firmware and MAC")
            ("1.3.6.1.2.1.2.2.1.3.1", "2", "6"),
            ("1.3.6.1.2.1.2.2.1.6.1", "4x", self.mac.replace(":", "")),
            ("1.3.6.1.2.1.47.1.1.1.1.9.1", "4", self.firmware),
            ("1.3.6.1.2.1.25.3.2.1.3.1", "4", self.model),
            ("1.3.6.1.2.1.25.3.2.1.5.1", "2", str(dev_status)),
            ("1.3.6.1.2.1.25.3.5.1.1.1", "2", "1" if critical else "3"),
            ("1.3.6.1.2.1.25.3.5.1.2.1", "4x", error_state.hex()),
            ("1.3.6.1.2.1.43.5.1.1.17.1", "4", self.serial),
        ]
        for i, t in enumerate(self.trays, 1):
            e = "1.3.6.1.2.1.43.8.2.1"
            rows += [(f"{e}.2.1.{i}", "2", str(t.type_code)), (f"{e}.9.1.{i}", "2", str(t.capacity)),
                     (f"{e}.10.1.{i}", "2", str(t.level)), (f"{e}.12.1.{i}", "4", t.media),
                     (f"{e}.13.1.{i}", "4", t.name)]
        rows.append(("1.3.6.1.2.1.43.10.2.1.4.1.1", "65", str(self.pages % 2**32)))
        for i, s in enumerate(self.supplies, 1):
            e = "1.3.6.1.2.1.43.11.1.1"
            rows += [(f"{e}.3.1.{i}", "2", str(s.colorant)), (f"{e}.4.1.{i}", "2", str(s.class_code)),
                     (f"{e}.5.1.{i}", "2", str(s.type_code)), (f"{e}.6.1.{i}", "4", s.description),
                     (f"{e}.7.1.{i}", "2", "19" if s.capacity == 100 else "7"),
                     (f"{e}.8.1.{i}", "2", str(s.capacity)), (f"{e}.9.1.{i}", "2", str(s.level))]
        ncol = 4 if self.colour else 1
        rows += [(f"1.3.6.1.2.1.43.12.1.1.4.1.{i}", "4", COLOURS[i - 1]) for i in range(1, ncol + 1)]
        alerts: list[tuple[int, int, int, str]] = []  # severity, group, code, text
        if "jammed" in faults:
            alerts.append((3, 13, 8, "Paper jam: open the right door and remove the paper"))
        if "door_open" in faults:
            alerts.append((3, 6, 501, "Front door open"))
        if "no_paper" in faults:
            alerts.append((3, 8, 803, "Load paper in tray"))
        for s in self.supplies:
            if s.class_code == 3 and s.level == 0:
                alerts.append((3, 11, 1101, f"{s.description} empty"))
            elif s.class_code == 3 and s.level * 10 <= s.capacity:
                alerts.append((4, 11, 1104, f"{s.description} low"))
        for i, (sev, grp, code, text) in enumerate(alerts, 1):
            e = "1.3.6.1.2.1.43.18.1.1"
            rows += [(f"{e}.2.1.{i}", "2", str(sev)), (f"{e}.4.1.{i}", "2", str(grp)),
                     (f"{e}.5.1.{i}", "2", "1"), (f"{e}.6.1.{i}", "2", "0"),
                     (f"{e}.7.1.{i}", "2", str(code)), (f"{e}.8.1.{i}", "4", text)]
        rows.sort(key=lambda r: tuple(int(p) for p in r[0].split(".")))
        head = "# Fleetwatch simulator data (made up, not captured from a real device).\n"
        return head + "".join(f"{o}|{t}|{v}\n" for o, t, v in rows)


def make_printer(name: str, index: int, rng: random.Random) -> SimPrinter:
    _make, model, oid, colour, _kind, parts = MODELS[index % len(MODELS)]
    supplies = []
    for n, (desc, part, yield_pages) in enumerate(parts, 1):
        capacity = 100
        supplies.append(SimSupply(desc, part, n, 5 if "Ink" in desc else 3, 3, capacity,
                                  rng.randint(8, 100), yield_pages / capacity / 10))
    if colour:
        supplies.append(SimSupply("Waste Toner Container", "", 0, 4, 4, 100,
                                  100 - rng.randint(0, 80), 200.0))
    supplies.append(SimSupply("Imaging Drum Unit", "", 0, 9, 3, 100, rng.randint(30, 100), 400.0))
    trays = [SimTray("Bypass Tray", "Plain", 5, 100, 0),
             SimTray("Tray 1", "A4", 3, 250, rng.randint(20, 250)),
             SimTray("Tray 2", "A4", 3, 500, rng.randint(50, 500))]
    site = SITES[index % len(SITES)]
    return SimPrinter(name=name, model=model, sys_object_id=oid,
                      serial=f"FW{index:04d}{rng.randint(1000, 9999)}",
                      location=f"{site}, room {100 + index}", colour=colour, supplies=supplies,
                      trays=trays, uptime_ticks=rng.randint(10**5, 10**8))


def device_kind(index: int) -> str:
    return MODELS[index % len(MODELS)][4]


class SimFleet:
    """The fleet's state plus the data directory snmpsim serves."""

    def __init__(self, data_dir: Path, count: int = 24, seed: int = 7, prefix: str = "demo") -> None:
        self.data_dir = data_dir
        self.rng = random.Random(seed)
        self.printers = [make_printer(f"{prefix}-{i + 1:02d}", i, self.rng) for i in range(count)]
        data_dir.mkdir(parents=True, exist_ok=True)
        self._mtime = 0
        self.office: OfficeModel | None = None  # set by office_fleet()
        self.clock = 0.0  # simulated time of the office model, epoch seconds

    def write(self, printer: SimPrinter | None = None) -> None:
        """(Re)write data files atomically, each with a strictly newer mtime so that snmpsim
        notices even two changes within one second."""
        self._mtime = max(self._mtime + 1, int(os.path.getmtime(self.data_dir)) + 1)
        for p in [printer] if printer else self.printers:
            path = self.data_dir / f"{p.name}.snmprec"
            tmp = path.with_suffix(".tmp")
            tmp.write_text(p.render())
            os.utime(tmp, (self._mtime, self._mtime))
            os.replace(tmp, path)

    def step(self, seconds: float) -> None:
        if self.office is not None:
            self.advance(seconds * self.office.time_scale)
            self.write()
            return
        for p in self.printers:
            p.step(seconds, self.rng)
        self.write()

    def advance(self, sim_seconds: float, *, tick: float = 900.0) -> None:
        """The office model only: run ``sim_seconds`` of simulated time in ``tick`` steps, without
        writing the data files (the forecast bench calls this directly)."""
        while sim_seconds > 0:
            dt = min(tick, sim_seconds)
            _office_step(self, dt)
            sim_seconds -= dt

    def get(self, name: str) -> SimPrinter:
        return next(p for p in self.printers if p.name == name)


# --- the office model (issue 12): realistic, varied use over simulated days -----------------------
DAY_S = 86_400.0


@dataclass(frozen=True)
class OfficeModel:
    """Simulated office use: pages per working day drawn per printer (log-normal around
    ``pages_per_day``, copiers ``copier_factor`` times more, each day ±``daily_noise``), printing
    between 08:00 and 18:00, nothing on weekends, real cartridge yields (``yield_pages`` per
    100 %), and swaps: most on time (within 0.2 days of running empty), ``early`` share pulled
    at 10-35 %, ``late`` share left empty for 0.5-3 days. ``time_scale`` simulated seconds pass
    per real second of :meth:`SimFleet.step`, so a demo shows weeks of use in minutes."""

    time_scale: float = 1.0
    pages_per_day: float = 120.0
    copier_factor: float = 4.0
    spread: float = 0.6  # sigma of the log-normal between printers
    daily_noise: float = 0.3
    weekends: bool = True
    early: float = 0.2
    late: float = 0.1
    start: float = 1_798_966_800.0  # Monday 2027-01-04 08:00 UTC


def _plan_swap(s: SimSupply, rng: random.Random, model: OfficeModel) -> None:
    r = rng.random()
    if r < model.early:
        s.swap_at = rng.uniform(10, 35)
    elif r < model.early + model.late:
        s.swap_at = -rng.uniform(0.5, 3.0)  # days left empty
    else:
        s.swap_at = -rng.uniform(0.0, 0.2)  # on time: within a few hours of running empty


def office_fleet(data_dir: Path, model: OfficeModel, count: int = 24, seed: int = 7,
                 prefix: str = "demo") -> SimFleet:
    """A :class:`SimFleet` driven by ``model``: its :meth:`SimFleet.step` then advances the
    simulated clock ``seconds x time_scale`` and prints office pages (see :class:`OfficeModel`).
    The fleet's public API is unchanged."""
    fleet = SimFleet(data_dir, count=count, seed=seed, prefix=prefix)
    fleet.office = model
    fleet.clock = model.start
    for i, p in enumerate(fleet.printers):
        factor = model.copier_factor if device_kind(i) == "copier" else 1.0
        p.pages_per_day = model.pages_per_day * factor * fleet.rng.lognormvariate(0, model.spread)
        parts = MODELS[i % len(MODELS)][5]
        for n, s in enumerate(p.supplies):
            if s.class_code == 3 and s.type_code in (3, 5):
                yield_pages = parts[n][2] if n < len(parts) else 5000
                s.pages_per_unit = yield_pages / s.capacity
                s.share = 1.0 if s.colorant in (0, 1) else fleet.rng.uniform(0.4, 0.9)
                s.exact = float(s.level)
                _plan_swap(s, fleet.rng, model)
            elif s.class_code == 4 or s.type_code == 9:
                # a waste box fills (its level, the space left, goes down) and a drum wears,
                # page by page; both are swapped when they reach 0
                s.pages_per_unit = 250.0 if s.class_code == 4 else 300.0
                s.exact = float(s.level)
                s.swap_at = -0.1
    return fleet


def _office_step(fleet: SimFleet, sim_seconds: float) -> None:
    model = fleet.office
    assert model is not None
    rng = fleet.rng
    t0, t1 = fleet.clock, fleet.clock + sim_seconds
    fleet.clock = t1
    for p in fleet.printers:
        p.uptime_ticks += int(sim_seconds * 100)
        day = int(t0 // DAY_S)
        working = not (model.weekends and (day + 3) % 7 >= 5)
        # the share of this step inside 08:00-18:00
        start = max(t0, day * DAY_S + 8 * 3600)
        stop = min(t1, day * DAY_S + 18 * 3600)
        office = max(0.0, stop - start) / (10 * 3600)
        if working and office > 0:
            noise = max(0.0, rng.gauss(1.0, model.daily_noise))
            printed = p.pages_per_day * office * noise
            p.pages += round(printed)
            for s in p.supplies:
                if s.exact is None:
                    continue
                s.exact = max(0.0, s.exact - printed * s.share / s.pages_per_unit)
                s.level = math.ceil(s.exact) if s.exact > 0 else 0
        for s in p.supplies:  # swaps: early, on time, late
            if s.exact is None:
                continue
            due = (s.swap_at >= 0 and s.exact <= s.swap_at) or (s.swap_at < 0 and s.level == 0)
            if s.level == 0 and s.empty_since_t is None:
                s.empty_since_t = t1
            if s.swap_at < 0 and s.empty_since_t is not None:
                due = t1 - s.empty_since_t >= -s.swap_at * DAY_S
            if due:
                s.exact, s.level, s.empty_since_t = float(s.capacity), s.capacity, None
                if s.type_code in (3, 5):
                    _plan_swap(s, rng, model)
