"""The request gate (collector/web/middleware.py) on the real collector app served on loopback,
spoken to over raw sockets so that headers no polite client would send reach it as written."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from collector.app import build_app
from collector.config import CollectorSettings, Config, DeviceConfig, load_config
from collector.demo import free_port
from collector.keys import STORE
from collector.tickets.store import TicketQuery
from collector.web.middleware import MAX_JSON_DEPTH
from probes.errors import ConfigError
from probes.secret import Secret

TOKEN = "gate-token"
OPEN = "open-app-token"


@dataclass
class Served:
    app: web.Application
    port: int
    # sent unless a test gives its own Authorization: since accounts (issue 13) every write
    # needs credentials, so the "open" app is one whose callers hold the technician token
    auth: str | None = None

    async def raw(self, request: bytes) -> tuple[int, dict[str, str], Any]:
        """Send ``request`` as is; the status, headers and (JSON if it parses) body."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(request)
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode("latin-1")
        return int(lines[0].split()[1]), headers, parsed

    async def send(self, method: str, path: str, body: bytes = b"", *,
                   host: str | None = None, **headers: str) -> tuple[int, Any]:
        head = {"Host": f"127.0.0.1:{self.port}" if host is None else host, "Connection": "close",
                **{k.replace("_", "-"): v for k, v in headers.items()}}
        if self.auth is not None:
            head.setdefault("Authorization", self.auth)
        if body or method in {"POST", "PATCH", "PUT"}:
            head.setdefault("Content-Length", str(len(body)))
        text = "".join(f"{k}: {v}\r\n" for k, v in head.items())
        status, _, parsed = await self.raw(
            f"{method} {path} HTTP/1.1\r\n{text}\r\n".encode("utf-8", "surrogateescape") + body)
        return status, parsed

    async def count(self) -> int:
        """Tickets in the store (of any state)."""
        _, total = await self.app[STORE].find(TicketQuery())
        return total


async def _serve(tmp_path: Path, auth: str | None = None, **settings: Any
                 ) -> AsyncIterator[Served]:
    config = Config(path=tmp_path / "fleetwatch.yaml",
                    collector=CollectorSettings(state_dir=tmp_path / "state", **settings),
                    devices=(DeviceConfig(name="p1", host="192.0.2.1", site="hq"),))
    app = build_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield Served(app, port, auth)
    finally:
        await runner.cleanup()


@pytest.fixture()
async def open_app(tmp_path: Path) -> AsyncIterator[Served]:
    """Callers that hold the token: only the origin rules stand between them and a write."""
    async for served in _serve(tmp_path, f"Bearer {OPEN}", allowed_hosts=("fleet.example.org",),
                               api_token=Secret(OPEN)):
        yield served


@pytest.fixture()
async def token_app(tmp_path: Path) -> AsyncIterator[Served]:
    async for served in _serve(tmp_path, api_token=Secret(TOKEN)):
        yield served


JSON = {"Content_Type": "application/json"}
NEW = json.dumps({"title": "toner smudges"}).encode()


async def test_same_origin_and_originless_writes_pass(open_app: Served) -> None:
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **JSON)
    assert status == 201, body  # curl / the CLI: no Origin, our Host
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **JSON,
                                       Origin=f"http://127.0.0.1:{open_app.port}",
                                       Sec_Fetch_Site="same-origin")
    assert status == 201, body  # the collector's own page
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **JSON,
                                       host="localhost:" + str(open_app.port))
    assert status == 201, body
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **JSON,
                                       host="fleet.example.org")  # collector.allowed_hosts
    assert status == 201, body
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **JSON,
                                       host="fleet.example.org",  # behind a TLS proxy
                                       Origin="https://fleet.example.org")
    assert status == 201, body


@pytest.mark.parametrize(("host", "headers", "message"), [
    ("attacker.example", {}, "is not this collector"),  # DNS rebinding
    ("", {}, "is not this collector"),
    (None, {"Origin": "http://127.0.0.1:1"}, "cross-origin"),  # another port on our host
    (None, {"Origin": "http://evil.example"}, "cross-origin"),
    (None, {"Origin": "null"}, "cross-origin"),  # sandboxed frame, file://
    (None, {"Origin": "https://127.0.0.1:{port}"}, "cross-origin"),  # scheme differs
    (None, {"Sec_Fetch_Site": "cross-site"}, "cross-site"),
    (None, {"Sec_Fetch_Site": "same-site"}, "cross-site"),  # same host, other port
])
async def test_foreign_writes_are_403(open_app: Served, host: str | None,
                                      headers: dict[str, str], message: str) -> None:
    headers = {k: v.format(port=open_app.port) for k, v in headers.items()}
    for method, path in [("POST", "/api/v1/tickets"), ("PATCH", "/api/v1/tickets/1"),
                         ("POST", "/api/v1/tickets/1/comments"), ("DELETE", "/api/v1/tickets/1"),
                         ("POST", "/tickets/1")]:
        status, body = await open_app.send(method, path, NEW, host=host, **JSON, **headers)
        assert status == 403 and message in body["error"], (method, path, body)
    assert await open_app.count() == 0


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x",
                                          "application/json; charset=latin-1", "application/jsonx"])
async def test_api_writes_need_json(open_app: Served, content_type: str | None) -> None:
    headers = {"Content_Type": content_type} if content_type else {}
    status, body = await open_app.send("POST", "/api/v1/tickets", NEW, **headers)
    assert status == 415 and "application/json" in body["error"]
    assert await open_app.count() == 0


@pytest.mark.parametrize(("raw_body", "status", "message"), [
    (b'{"title": "\xff\xfe"}', 400, "not valid UTF-8"),
    ('{"title": "x"}'.encode("utf-16"), 400, "not valid UTF-8"),
    (b"[" * 100_000 + b"]" * 100_000, 400, "nested deeper than 32"),
    (b'{"title": ' + b"[" * (MAX_JSON_DEPTH) + b"]" * (MAX_JSON_DEPTH) + b"}", 400,
     "nested deeper than 32"),
    (b'{"title": ' + b"[" * (MAX_JSON_DEPTH - 1) + b"]" * (MAX_JSON_DEPTH - 1) + b"}", 400,
     "must be a string"),  # 32 deep is read, then refused for what it is
    (b'{"title": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', 201, ""),
    (b'{"title": "' + b"x" * (1 << 20) + b'"}', 413, "body size"),
])
async def test_bodies(open_app: Served, raw_body: bytes, status: int, message: str) -> None:
    got, body = await open_app.send("POST", "/api/v1/tickets", raw_body, **JSON)
    assert got == status and message in (body["error"] if status >= 400 else ""), body


@pytest.mark.parametrize("value", ["Bearer t\xe9st", "Bearer \udcff\udcfe", "Bearer a\x01b"])
async def test_bad_header_bytes_are_400(token_app: Served, value: str) -> None:
    for method, path, body in [("GET", "/api/v1/tickets", b""), ("POST", "/api/v1/tickets", NEW),
                               ("GET", "/", b"")]:
        status, answer = await token_app.send(method, path, body, Authorization=value, **JSON)
        assert status == 400, (path, answer)
        # a C0 control is refused by aiohttp's parser already (plain text, see docs/api.md)
        assert "\x01" in value or "non-ASCII or control" in answer["error"], (path, answer)


@pytest.mark.parametrize("length", ["abc", "-1", "1" * 30, "5, 6"])
async def test_bad_content_length_is_4xx(open_app: Served, length: str) -> None:
    """aiohttp's HTTP parser refuses these before any middleware: plain-text 400 (docs/api.md)."""
    status, _ = await open_app.send("POST", "/api/v1/tickets", NEW, Content_Length=length, **JSON)
    assert 400 <= status < 500


async def test_credentials_when_a_token_is_set(token_app: Served) -> None:
    for path in ["/api/v1/tickets", "/api/v1/devices", "/api/v1/health", "/", "/tickets"]:
        status, body = await token_app.send("GET", path)
        if path.startswith("/api/"):
            assert status == 401 and "credentials" in body["error"], path
        else:  # a page sends a browser to the login page (docs/web.md)
            assert status == 303, path
        status, _ = await token_app.send("GET", path, Authorization=f"Bearer {TOKEN}")
        assert status == 200, path
    status, headers, _ = await token_app.raw(
        f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{token_app.port}\r\nConnection: close\r\n\r\n"
        .encode())
    assert status == 303 and headers["location"].startswith("/login")
    for value in ["Bearer nope", "Basic !!!", "Basic " + "eDp4", "Digest x", "Bearer"]:
        status, _ = await token_app.send("POST", "/api/v1/tickets", NEW, Authorization=value,
                                         **JSON)
        assert status == 401, value
    status, body = await token_app.send("POST", "/api/v1/tickets", NEW, **JSON,
                                        Authorization=f"Bearer {TOKEN}")
    assert status == 201, body
    assert await token_app.count() == 1


def test_allowed_hosts_from_yaml(tmp_path: Path) -> None:
    """``collector.allowed_hosts`` through the real loader: names kept lower case, a bad one is
    an error naming file, line and key."""
    path = tmp_path / "fleetwatch.yaml"
    path.write_text("collector:\n  allowed_hosts: [Fleet.Example.org, 10.0.0.5]\ndevices: []\n")
    assert load_config(path).collector.allowed_hosts == ("fleet.example.org", "10.0.0.5")
    path.write_text("collector:\n  allowed_hosts:\n    - ok.example\n    - 'bad name!'\n"
                    "devices: []\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "fleetwatch.yaml:4" in str(err.value) and "allowed_hosts[1]" in str(err.value)


async def test_parser_refusals_log_one_line(open_app: Served,
                                            caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="aiohttp.server"):
        status, _ = await open_app.send("POST", "/api/v1/tickets", NEW, Content_Length="abc",
                                        **JSON)
    assert status == 400
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert records and all(r.exc_info is None and r.levelno == logging.INFO for r in records)
    assert "HTTP 400" in records[0].getMessage()
