"""CPU per single-report agent request through the whole collector app, in process.

``PYTHONPATH=. .venv/bin/python -m bench.request_gate [--requests N] [--rounds R] [--profile]``

The collector (``build_app``, no storage) is served on loopback; one client in the same process
posts N single-report batches one after another (each waits for its answer). Printed per round:
CPU µs per request of the process (server and client together), and the same for a bare aiohttp
peer in the same process (reads the body, answers JSON) and for the two middlewares alone
(``request_guard`` and ``auth_middleware`` on the real request, handler answering at once).
``--profile``: a cProfile of the collector rounds, top functions by own time. ``--alone``: the
two middlewares' own code on 2,000 real ``Request`` objects (``make_mocked_request``, a
stand-in transport, the route resolved by the app's router, a handler returning at once), min
and median of 5 rounds. Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from collector.app import build_app
from collector.auth.middleware import auth_middleware
from collector.config import CollectorSettings, Config
from collector.ingest.settings import IngestSettings
from collector.web.middleware import request_guard
from probes.secret import Secret

SECRET = "enroll-me-please"


def _report(agent_id: str, seq: int) -> dict[str, Any]:
    return {"version": 1, "reports": [{
        "agent_id": agent_id, "seq": seq, "time": time.time(), "interval": 10.0,
        "snapshot": {"cpu": {"percent": 5.0, "load1": 0.1}, "memory": {"used_percent": 30.0},
                     "disks": [{"mountpoint": "/", "used_percent": 40.0,
                                "total_bytes": 1000}]}}]}


async def _posts(http: aiohttp.ClientSession, url: str, token: str, agent_id: str,
                 first: int, n: int) -> float:
    """CPU µs per request of this process for n sequential single-report posts."""
    headers = {"Authorization": f"Bearer {token}"}
    start = time.process_time()
    for seq in range(first, first + n):
        async with http.post(url, json=_report(agent_id, seq), headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
    return (time.process_time() - start) / n * 1e6


async def _peer_handler(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": 1, "duplicates": 0})


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8080) if name == "sockname" else default

    def is_closing(self) -> bool:
        return False


async def _alone(app: web.Application) -> None:
    runner = web.AppRunner(app)
    await runner.setup()
    transport = _Transport()

    def request() -> web.Request:
        return make_mocked_request("POST", "/api/v1/agents/reports", headers={
            "Host": "127.0.0.1:8080", "Content-Type": "application/json",
            "Authorization": "Bearer an-agent-token-without-prefix"}, app=app,
            transport=transport)

    match = await app.router.resolve(request())
    match.add_app(app)
    match.freeze()

    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response()

    try:
        for name, middleware in (("request_guard", request_guard),
                                 ("auth_middleware", auth_middleware)):
            times = []
            for _ in range(5):
                requests = [request() for _ in range(2000)]
                for r in requests:
                    r._match_info = match
                start = time.process_time()
                for r in requests:
                    response = await middleware(r, answer)
                    assert response.status == 200, response.status
                times.append((time.process_time() - start) / len(requests) * 1e6)
            print(f"{name} alone: min {min(times):.1f} µs, median {sorted(times)[2]:.1f} µs "
                  "per request")
    finally:
        await runner.cleanup()


async def main(requests: int, rounds: int, profile: bool, alone: bool) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gate-bench-"))
    (tmp / "secret").write_text(SECRET + "\n")
    config = Config(path=tmp / "fleetwatch.yaml", collector=CollectorSettings(
        state_dir=tmp / "state", api_token=Secret("admin-token")))
    app = build_app(config, ingest=IngestSettings(enroll_secret_file=tmp / "secret"))
    if alone:
        await _alone(app)
        return
    runner, url = await _serve(app)
    peer = web.Application()
    peer.router.add_post("/api/v1/agents/reports", _peer_handler)
    peer_runner, peer_url = await _serve(peer)
    # the two middlewares alone: the collector's, around a handler that answers at once
    gates = web.Application(middlewares=[request_guard, auth_middleware])
    for key in (k for k in app if k not in gates):  # the app state the middlewares read
        gates[key] = app[key]
    gates.router.add_post("/api/v1/agents/reports", _peer_handler)
    gates_runner, gates_url = await _serve(gates)
    prof = cProfile.Profile() if profile else None
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(url + "/api/v1/agents/enroll",
                                 json={"secret": SECRET, "hostname": "pc-1"}) as resp:
                body = json.loads(await resp.read())
            agent_id, token = body["agent_id"], body["token"]
            seq = 1
            await _posts(http, url + "/api/v1/agents/reports", token, agent_id, seq, 50)
            seq += 50
            print(f"load {os.getloadavg()[0]:.1f}; {requests} requests per round; "
                  "CPU µs per request (server + client, one process)")
            for r in range(rounds):
                if prof:
                    prof.enable()
                app_us = await _posts(http, url + "/api/v1/agents/reports", token,
                                      agent_id, seq, requests)
                if prof:
                    prof.disable()
                seq += requests
                gates_us = await _posts(http, gates_url + "/api/v1/agents/reports", token,
                                        agent_id, 0, requests)
                peer_us = await _posts(http, peer_url + "/api/v1/agents/reports", token,
                                       agent_id, 0, requests)
                print(f"round {r + 1}: collector {app_us:7.0f}   middlewares only "
                      f"{gates_us:6.0f}   bare aiohttp peer {peer_us:6.0f}   "
                      f"(middlewares' own ≈ {gates_us - peer_us:4.0f})")
    finally:
        await gates_runner.cleanup()
        await peer_runner.cleanup()
        await runner.cleanup()
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--alone", action="store_true")
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.rounds, args.profile, args.alone))
