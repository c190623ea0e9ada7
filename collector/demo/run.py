"""The demo: a whole office on one machine.

Starts a local influxd (own data dir), a simulated fleet served by snmpsim (toner drains, paper
runs out, jams come and go), and the collector with its web UI, using ``config/demo.yaml``.
Ctrl-C (or SIGTERM) stops everything it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from collector.app import build_app
from collector.config import Config, load_config
from collector.demo.lab import Influxd, Snmpsim
from collector.demo.simfleet import SimFleet

log = logging.getLogger(__name__)
STEP_SECONDS = 10.0
# config/demo.yaml of the source tree
DEMO_CONFIG = Path(__file__).resolve().parents[2] / "config" / "demo.yaml"


def run_demo(config_path: str | Path, minutes: float = 0, log_level: str = "WARNING") -> int:
    """Start influxd and the simulated fleet, serve the collector until Ctrl-C/SIGTERM or
    ``minutes``, then stop everything it started."""
    logging.basicConfig(level=log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(config_path)
    snmp_devices = [d for d in config.devices if any(p.kind == "snmp_printer" for p in d.probes)]
    endpoints = sorted({(d.host, d.port) for d in snmp_devices})
    influx_port = urlsplit(config.storage.url).port if config.storage.backend != "none" else None

    influxd = Influxd(port=influx_port) if influx_port else None
    fleet_dir = config.collector.state_dir / "simfleet"
    fleet = SimFleet(fleet_dir, count=len(snmp_devices), prefix="demo")
    for sim, device in zip(fleet.printers, snmp_devices, strict=True):
        sim.name = device.snmp.community.reveal() if device.snmp.community else device.name
    fleet.write()
    sim_proc = Snmpsim([], endpoints, live_dir=fleet_dir)
    try:
        if influxd:
            print(f"starting InfluxDB on {config.storage.url} ...", flush=True)
            influxd.start()
        print(f"starting {len(fleet.printers)} simulated printers/copiers on "
              f"{', '.join(f'{h}:{p}' for h, p in endpoints)} ...", flush=True)
        sim_proc.start()
        asyncio.run(_serve(config, fleet, minutes))
    finally:
        sim_proc.stop()
        if influxd:
            influxd.stop()
        print("demo stopped; everything it started is stopped.", flush=True)
    return 0


async def _serve(config: Config, fleet: SimFleet, minutes: float) -> None:
    app = build_app(config)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, config.collector.listen_host, config.collector.listen_port)
    await site.start()
    url = f"http://{config.collector.listen_host}:{config.collector.listen_port}"
    print(f"""
Fleetwatch demo is running.
  Fleet health (web UI):  {url}/
  Tickets:                {url}/tickets   (API: {url}/api/v1/tickets)
  Device API:             {url}/api/v1/devices
  InfluxDB (v1 API):      {config.storage.url}  database "{config.storage.database}"
  One printer by hand:    {_check_command(config)}
What to look at: toner bars drain, trays run empty and are refilled, jams and open doors come
and go every few minutes; each fault opens one ticket after the debounce and resolves itself.
Press Ctrl-C to stop.""", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if minutes:
        loop.call_later(minutes * 60, stop.set)
    simulate = asyncio.create_task(_simulate(fleet))
    try:
        await stop.wait()
    finally:
        simulate.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await simulate
        await runner.cleanup()


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
