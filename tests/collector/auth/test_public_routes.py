"""The accounts middleware on a public route: a bearer token it does not know (an agent's,
or a wrong one) is nobody there and the handler answers; on any other route it is a 401 from
the middleware, as before."""

from __future__ import annotations

from pathlib import Path

from tests.collector.ingest.helpers import ADMIN, SECRET, serve


async def test_unknown_bearer_tokens_on_public_and_other_routes(tmp_path: Path) -> None:
    async for server in serve(tmp_path):
        _, token = await server.enroll("pc-1")
        for bad in ("fwt_not-a-token", "no-prefix-at-all", token):
            status, body = await server.call("POST", "/api/v1/agents/enroll",
                                             {"secret": SECRET, "hostname": "pc-2"}, token=bad)
            assert status == 200 and body["token"], (bad, body)  # the handler answered
            status, body = await server.call("POST", "/api/v1/agents/enroll",
                                             {"secret": "wrong", "hostname": "pc-2"}, token=bad)
            assert status == 401 and "secret" in body["error"], (bad, body)
            status, body = await server.call("GET", "/api/v1/agents", token=bad)
            assert status == 401 and "bearer token is not valid" in body["error"], (bad, body)
        status, body = await server.call("POST", "/api/v1/agents/reports",
                                         {"version": 1, "reports": []}, token="fwt_wrong")
        assert status == 401 and "bearer token is not valid" not in body["error"], body
        status, body = await server.call("GET", "/api/v1/agents", token=ADMIN)
        assert status == 200 and len(body["agents"]) == 4
