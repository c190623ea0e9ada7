"""The demo: a whole office on one machine.

Starts a local influxd (own data dir), a simulated fleet served by snmpsim (toner drains, paper
runs out, jams come and go), and the collector with its web UI, using ``config/demo.yaml``.
Ctrl-C, SIGTERM or SIGHUP (its terminal closed) stops everything it started; if the demo itself is
killed, its influxd and snmpsim get SIGTERM from the kernel (Linux, see ``Process.die_with_parent``).
A demo whose ports are taken (most often by a leftover demo) refuses to start rather than serve
or write into someone else's processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from collector.app import STOP_SIGNALS, build_app, listen_sockets, serving, stop_event
from collector.auth import DB_NAME as ACCOUNTS_DB
from collector.auth.store import Accounts
from collector.config import Config, DeviceConfig, load_config
from collector.demo.agents import RealAgent, SimAgents, demo_hosts, demo_secret
from collector.demo.lab import Influxd, LabError, Snmpsim
from collector.demo.simfleet import OfficeModel, SimFleet, office_fleet
from probes import eventloop
from probes.safetext import configure_logging

log = logging.getLogger(__name__)
STEP_SECONDS = 10.0
# config/demo.yaml of the source tree
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


class DemoPortBusy(LabError):
    """A port the demo would start a service on is taken (a leftover demo, most often)."""


def run_demo(config_path: str | Path, minutes: float = 0, log_level: str = "WARNING") -> int:
    """Start influxd and the simulated fleet, serve the collector until Ctrl-C/SIGTERM/SIGHUP or
    ``minutes``, then stop everything it started.

    Raises ListenError or :class:`DemoPortBusy` before starting anything when a port is taken."""
    configure_logging(log_level)
    config = load_config(config_path)
    snmp_devices = [d for d in config.devices if any(p.kind == "snmp_printer" for p in d.probes)]
    endpoints = sorted({(d.host, d.port) for d in snmp_devices})
    influx_port = urlsplit(config.storage.url).port if config.storage.backend != "none" else None

    socks = listen_sockets(config.collector)  # the web UI's real sockets, held from now on
    try:
        _refuse_busy(influx_port, endpoints, snmp_devices)
    except BaseException:
        for sock in socks:
            sock.close()
        raise
    influxd = Influxd(port=influx_port) if influx_port else None
    fleet_dir = config.collector.state_dir / "simfleet"
    # an office that prints on weekdays and swaps cartridges early and late, ``supplies.time_scale``
    # times faster than real time, so forecasts and reorders show within minutes
    fleet = office_fleet(fleet_dir, OfficeModel(time_scale=config.supplies.time_scale),
                         count=len(snmp_devices), prefix="demo")
    for sim, device in zip(fleet.printers, snmp_devices, strict=True):
        sim.name = device.snmp.community.reveal() if device.snmp.community else device.name
    fleet.write()
    sim_proc = Snmpsim([], endpoints, live_dir=fleet_dir)
    # one real agent (this machine); it enrolls once the collector below is up
    secret = demo_secret(config.collector.state_dir)
    url = f"http://{config.collector.listen_host}:{config.collector.listen_port}"
    agent = RealAgent(url, secret, config.collector.state_dir / "demo-agent")
    for proc in (influxd, sim_proc, agent):
        if proc:
            proc.die_with_parent = True
    try:
        # SIGTERM and SIGHUP act as Ctrl-C (KeyboardInterrupt) while the services start, so
        # that the ``finally`` below stops what has started; inside ``asyncio.run`` the loop's
        # handlers of :func:`stop_event` take over.
        with _stop_signals(_interrupt):
            if influxd:
                print(f"starting InfluxDB on {config.storage.url} ...", flush=True)
                influxd.start()
            print(f"starting {len(fleet.printers)} simulated printers/copiers on "
                  f"{', '.join(f'{h}:{p}' for h, p in endpoints)} ...", flush=True)
            sim_proc.start()
            agent.start()
            eventloop.run(_serve(config, socks, fleet, minutes, secret))
    finally:
        for sock in socks:
            sock.close()
        with _stop_signals(signal.SIG_IGN):  # a second SIGTERM/SIGHUP must not cut the stopping short
            agent.stop()
            sim_proc.stop()
            if influxd:
                influxd.stop()
        print("demo stopped; everything it started is stopped.", flush=True)
    return 0


def _busy(host: str, port: int, kind: int) -> bool:
    """Whether ``host:port`` is bound by someone. UDP is tried without SO_REUSEADDR (on Linux two
    sockets that both set it may share a UDP port); TCP with it, as servers bind (so TIME_WAIT
    leftovers of a stopped server do not count)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def _refuse_busy(influx_port: int | None, endpoints: Sequence[tuple[str, int]],
                 devices: Sequence[DeviceConfig]) -> None:
    """Raise DemoPortBusy, one line, when the InfluxDB port or an SNMP endpoint is taken. The
    check and the child's own bind are not atomic; a child that cannot bind still fails its
    start (LabError)."""
    hint = "a leftover demo still running? stop it, or change the port in the config"
    if influx_port and _busy("127.0.0.1", influx_port, socket.SOCK_STREAM):
        raise DemoPortBusy(f"InfluxDB port 127.0.0.1:{influx_port} (storage.url) is already in "
                           f"use ({hint})")
    busy = [(h, p) for h, p in endpoints if _busy(h, p, socket.SOCK_DGRAM)]
    if busy:
        host, port = busy[0]
        names = [d.name for d in devices if (d.host, d.port) == (host, port)]
        more = f" and {len(busy) - 1} more" if len(busy) > 1 else ""
        raise DemoPortBusy(f"SNMP endpoint {host}:{port}/udp (devices {', '.join(names)}){more} "
                           f"is already in use ({hint})")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


@contextlib.contextmanager
def _stop_signals(handler: Callable[[int, FrameType | None], Any] | int) -> Iterator[None]:
    """SIGTERM and SIGHUP go to ``handler`` (a function or ``signal.SIG_IGN``) inside the
    block; their previous handlers come back after it. SIGINT keeps Python's own."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS
                if sig != signal.SIGINT}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


async def _serve(config: Config, socks: Sequence[socket.socket], fleet: SimFleet,
                 minutes: float, secret: Path) -> None:
    stop = stop_event()
    if minutes:
        asyncio.get_running_loop().call_later(minutes * 60, stop.set)
    password = demo_account(config)
    # the demo is for looking around: reads are open; working tickets needs the demo login
    app = build_app(config, config.auth.model_copy(update={"public_read": True}),
                    ingest=config.agents.model_copy(
                        update={"enroll_secret_file": secret, "silence_check_every": 30.0}))
    async with serving(app, socks):
        url = f"http://{config.collector.listen_host}:{config.collector.listen_port}"
        print(f"""
Fleetwatch demo is running.
  Fleet health (web UI):  {url}/
  Tickets:                {url}/tickets   (API: {url}/api/v1/tickets)
  Log in to work tickets: {url}/login  user "demo", password "{password}" (new each start)
  Device API:             {url}/api/v1/devices
  Workstation agents:     {url}/api/v1/agents   (fleetwatch agents list)
  InfluxDB (v1 API):      {config.storage.url}  database "{config.storage.database}"
  One printer by hand:    {_check_command(config)}
What to look at: toner bars drain, trays run empty and are refilled, jams and open doors come
and go every few minutes; each fault opens one ticket after the debounce and resolves itself.
Workstations: this machine runs a real agent, four simulated PCs report too; the disk of
demo-pc-accounts fills until its disk ticket opens (a minute or two).
Press Ctrl-C to stop (closing the terminal stops it too).""", flush=True)
        simulate = asyncio.create_task(_simulate(fleet))
        secret_text = (await asyncio.to_thread(secret.read_text)).strip()
        pcs = asyncio.create_task(SimAgents(url, secret_text, demo_hosts()).run())
        try:
            await stop.wait()
        finally:
            for task in (simulate, pcs):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


def demo_account(config: Config) -> str:
    """The demo's technician account ``demo`` with a fresh random password (returned)."""
    password = secrets.token_urlsafe(12)
    accounts = Accounts.open(config.collector.state_dir / ACCOUNTS_DB)
    try:
        if accounts.user("demo") is None:
            accounts.add_user("demo", "technician", password)
        else:
            accounts.set_password("demo", password)
    finally:
        accounts.close()
    return password


def _check_command(config: Config) -> str:
    """The ``fleetwatch check`` command line that polls the demo's first simulated printer."""
    device = next(d for d in config.devices if any(p.kind == "snmp_printer" for p in d.probes))
    community = device.snmp.community.reveal() if device.snmp.community else "public"
    return (f"{sys.argv[0]} check {device.host} --port {device.port} "
            f"--community {community}")


async def _simulate(fleet: SimFleet) -> None:
    while True:
        await asyncio.sleep(STEP_SECONDS)
        await asyncio.to_thread(fleet.step, STEP_SECONDS)
