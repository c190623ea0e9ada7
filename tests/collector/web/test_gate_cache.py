"""The request gate's cached host names (``collector.web.middleware._names_for``): a cache hit
never lets a foreign ``Host`` through, and apps with other settings or addresses in the same
process get their own names."""

from __future__ import annotations

import json
from pathlib import Path

from collector.web import middleware
from probes.secret import Secret
from tests.collector.web.test_middleware import OPEN, _serve

JSON = {"Content_Type": "application/json"}
NEW = json.dumps({"title": "toner smudges"}).encode()


async def test_a_host_change_is_still_refused_after_cached_writes(tmp_path: Path) -> None:
    async for app in _serve(tmp_path, f"Bearer {OPEN}", allowed_hosts=("fleet.example.org",),
                            api_token=Secret(OPEN)):
        ours = f"127.0.0.1:{app.port}"
        for host in (ours, "fleet.example.org", ours, "localhost"):
            status, body = await app.send("POST", "/api/v1/tickets", NEW, host=host, **JSON)
            assert status == 201, (host, body)
        hits = middleware._names_for.cache_info().hits
        for host in ("attacker.example", "fleet.example.org.evil", "127.0.0.2", ""):
            status, body = await app.send("POST", "/api/v1/tickets", NEW, host=host, **JSON)
            assert status == 403 and "is not this collector" in body["error"], (host, body)
        assert middleware._names_for.cache_info().hits > hits  # the refusals came from the cache
        status, body = await app.send("POST", "/api/v1/tickets", NEW, host=ours, **JSON)
        assert status == 201, body
        assert await app.count() == 5


async def test_each_app_keeps_its_own_names(tmp_path: Path) -> None:
    """Two collectors in one process, one allowing a name the other does not know."""
    async for first in _serve(tmp_path / "a", f"Bearer {OPEN}",
                              allowed_hosts=("fleet.example.org",), api_token=Secret(OPEN)):
        async for second in _serve(tmp_path / "b", f"Bearer {OPEN}",
                                   allowed_hosts=("other.example.org",), api_token=Secret(OPEN)):
            for _ in range(2):  # the second round is answered from the cache
                status, _ = await first.send("POST", "/api/v1/tickets", NEW,
                                             host="fleet.example.org", **JSON)
                assert status == 201
                status, body = await second.send("POST", "/api/v1/tickets", NEW,
                                                 host="fleet.example.org", **JSON)
                assert status == 403 and "is not this collector" in body["error"]
                status, _ = await second.send("POST", "/api/v1/tickets", NEW,
                                              host="other.example.org", **JSON)
                assert status == 201
                status, _ = await first.send("POST", "/api/v1/tickets", NEW,
                                             host="other.example.org", **JSON)
                assert status == 403
