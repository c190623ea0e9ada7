"""Readings and devices shaped like real polls, and a small line protocol parser to check lines.

The parser is independent of collector.storage.lineproto (it follows the InfluxDB line protocol
reference), so that formatting bugs show up as differences rather than cancel out.
"""

from __future__ import annotations

from types import MappingProxyType

from aiohttp import web

from collector.config import DeviceConfig
from collector.demo import free_port
from probes.model import Alert, PageCounter, PollCost, Reading, Supply, Tray

COLOURS = ("black", "cyan", "magenta", "yellow")


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Start ``app`` on a free loopback port: its runner (to clean up) and base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


def device(i: int, *, site: str | None = "hq") -> DeviceConfig:
    return DeviceConfig(name=f"printer-{i:03d}", host=f"10.0.0.{i}", site=site,
                        tags=MappingProxyType({"floor": str(i % 3)}))


def printer_reading(name: str, t: float, *, cycle: int = 0, reachable: bool = True,
                    faults: frozenset[str] | None = frozenset()) -> Reading:
    """A colour laser printer: 4 toners, a drum with an unknown level, a waste container, two
    trays and a bypass, one page counter."""
    if not reachable:
        return Reading(device=name, host="10.0.0.1", probe="snmp_printer", time=t,
                       reachable=False, error="timeout: no SNMP response", status="unreachable",
                       cost=PollCost(duration_s=2.0, pdus=2, retries=1))
    toners = tuple(
        Supply(index=f"1.{k + 1}", description=f"{c.title()} Toner Cartridge CF41{k}A",
               type="toner", supply_class="consumed", colour=c, unit="percent",
               level=max(0, 90 - cycle - 7 * k), capacity=100,
               percent=float(max(0, 90 - cycle - 7 * k)), state="ok", part_number=f"CF41{k}A")
        for k, c in enumerate(COLOURS)
    )
    supplies = (
        *toners,
        Supply(index="1.5", description="Imaging Drum", type="opc", supply_class="consumed",
               colour=None, unit="impressions", level=-3, capacity=60000, percent=None,
               state="some_remaining", part_number=None),
        Supply(index="1.6", description="Waste Toner Box", type="waste_toner",
               supply_class="filled", colour=None, unit="tenths_of_grams", level=-2,
               capacity=-2, percent=None, state="unknown", part_number=None),
    )
    trays = (
        Tray(index="1.1", description="Tray 1", media="A4", level=250 - cycle, capacity=250,
             percent=(250 - cycle) / 2.5, state="ok", manual=False),
        Tray(index="1.2", description="Bypass Tray", media=None, level=0, capacity=100,
             percent=0.0, state="empty", manual=True),
    )
    return Reading(
        device=name, host="10.0.0.1", probe="snmp_printer", time=t, status="ok",
        uptime_seconds=86400.0 + 60 * cycle, device_status="running", printer_status="idle",
        faults=faults, error_state_hex="00" if faults is not None else None,
        alerts=(Alert(index="1", severity="warning", group="input", group_index=2, location=None,
                      code="subunit_empty", description="Tray 2 empty"),),
        supplies=supplies, trays=trays,
        page_counters=(PageCounter(index="1.1", value=123456 + 10 * cycle),),
        cost=PollCost(duration_s=0.0815, pdus=3, retries=0),
    )


def _split(text: str, seps: str, *, quotes: bool = True, limit: int = -1) -> list[str]:
    """Split on any of ``seps`` (outside double quotes when ``quotes``), honouring backslash
    escapes; at most ``limit`` splits."""
    parts, cur, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if ch == '"' and quotes:
            quoted = not quoted
        if ch in seps and not quoted and limit != 0:
            limit -= 1
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def _unescape(text: str) -> str:
    for esc in (",", "=", " ", '"'):
        text = text.replace("\\" + esc, esc)
    return text


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, tuple[str, object]], int]:
    """→ (measurement, tags, {field: (type, value)}, timestamp). Types: integer, float, string,
    boolean. Raises ValueError on anything that is not valid line protocol."""
    head, rest = _split(line, " ", quotes=False, limit=1)
    fields_text, stamp = _split(rest, " ")
    name, *tag_parts = _split(head, ",", quotes=False)
    tags = {}
    for part in tag_parts:
        key, value = _split(part, "=", quotes=False)
        if not key or not value:
            raise ValueError(f"empty tag key or value in {line!r}")
        tags[_unescape(key)] = _unescape(value)
    fields: dict[str, tuple[str, object]] = {}
    for part in _split(fields_text, ","):
        key, value = _split(part, "=", limit=1)
        if value.startswith('"'):
            if not value.endswith('"') or len(value) < 2:
                raise ValueError(f"bad string in {line!r}")
            body = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
            fields[_unescape(key)] = ("string", body)
        elif value.endswith("i"):
            fields[_unescape(key)] = ("integer", int(value[:-1]))
        elif value in ("true", "false", "t", "f", "T", "F", "True", "False"):
            fields[_unescape(key)] = ("boolean", value.lower().startswith("t"))
        else:
            fields[_unescape(key)] = ("float", float(value))
    return _unescape(name), tags, fields, int(stamp)
