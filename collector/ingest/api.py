"""The agents' HTTP API and its cleanup context (:func:`setup`).

- ``POST /api/v1/agents/enroll`` ``{"secret", "hostname", "machine_id"?}`` → ``{"agent_id",
  "token"}``. Rate-limited per client address (429); no secret configured → 403; wrong secret →
  401; a host whose agent was revoked (by host name or machine id) → 403 with ``"revoked":
  true`` until an admin allows it again: a revoke sticks even though the host still has the
  secret (docs/agent.md, "Revoking an agent").
- ``POST /api/v1/agents/reports`` (``Authorization: Bearer <agent token>``), a
  :class:`agent.schema.ReportBatch` → ``{"accepted", "duplicates"}``. Unknown or revoked token
  → 401 (``"revoked": true`` for a revoked one: its agent must not enroll again by itself);
  body over ``max_body_bytes`` → 413; not the schema → 400 with the path of the bad
  field (``reports.0.snapshot.cpu.percent: ...``); a report of another agent id → 400. A bad
  request records nothing.
- ``GET /api/v1/agents`` (with each agent's latest inventory, and ``revoked_hosts``),
  ``GET /api/v1/agents/{agent}``, ``POST /api/v1/agents/{agent}/revoke`` and
  ``POST /api/v1/agents/allow`` ``{"host"}`` (a revoked host name, machine id or agent id may
  enroll again; 404 when nothing revoked matches). Both writes need ``agents.manage`` and
  ``collector.api_token`` when that is set.
"""

from __future__ import annotations

import hmac
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from agent.schema import AllowRequest, EnrollRequest, ReportBatch
from collector.ingest.service import Ingest
from collector.ingest.settings import IngestSettings
from collector.ingest.store import (
    DB_NAME,
    AgentNotFound,
    AgentRow,
    AgentStore,
    AgentStoreError,
    token_hash,
)
from collector.keys import CONFIG, INGEST, SINKS, STATS
from collector.storage import StorageError

M = TypeVar("M", bound=BaseModel)

log = logging.getLogger(__name__)

# How long a verified agent token is trusted without asking the database again (one SQLite
# lookup and thread hop per request otherwise). A revoke through this process's API (which is
# what `fleetwatch agents revoke` uses) empties the cache at once; a change made to the
# database behind the collector's back takes effect within this many seconds.
TOKEN_CACHE_SECONDS = 5.0
TOKEN_CACHE_MAX = 100_000


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(t))


def _validation_message(err: ValidationError) -> tuple[str, list[dict[str, str]]]:
    problems = [{"path": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
                for e in err.errors(include_url=False)[:20]]
    first = problems[0] if problems else {"path": "(body)", "message": "invalid"}
    return f"{first['path']}: {first['message']}", problems


class _Bucket:
    """Token buckets per client address (enrollment rate limit)."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}

    def allow(self, who: str, now: float) -> bool:
        if len(self._state) > 10_000:  # a flood of addresses: start over rather than grow
            self._state.clear()
        tokens, at = self._state.get(who, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate)
        if tokens < 1:
            self._state[who] = (tokens, now)
            return False
        self._state[who] = (tokens - 1, now)
        return True


class AgentsApi:
    def __init__(self, ingest: Ingest, settings: IngestSettings) -> None:
        self.ingest = ingest
        self.settings = settings
        self._bucket = _Bucket(settings.enroll_rate, settings.enroll_burst)
        # SHA-256 of a live token -> (its agent, when verified); see TOKEN_CACHE_SECONDS
        self._tokens: dict[str, tuple[AgentRow, float]] = {}
        self._revocations = 0  # bumped by every revoke: a lookup begun before it is not cached

    def forget_tokens(self) -> None:
        """Trust no cached token any more (a revoke): the next request of each agent asks the
        database, and a lookup already in flight is not cached."""
        self._tokens.clear()
        self._revocations += 1

    async def _agent(self, request: web.Request) -> AgentRow | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > 512:
            return None
        key = token_hash(token)
        now = time.monotonic()
        hit = self._tokens.get(key)
        if hit is not None and now - hit[1] < TOKEN_CACHE_SECONDS:
            return hit[0]
        generation = self._revocations
        row = await self.ingest.store.by_token(token)
        if row is not None and generation == self._revocations:
            if len(self._tokens) >= TOKEN_CACHE_MAX:
                self._tokens.clear()
            self._tokens[key] = (row, now)
        return row

    async def _body(self, request: web.Request) -> bytes | web.Response:
        limit = self.settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _error(413, f"body of {request.content_length} bytes is over the limit of "
                          f"{limit} bytes: send smaller batches")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(65536)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                return _error(413, f"body is over the limit of {limit} bytes: send smaller "
                              "batches")
            chunks.append(chunk)
        return b"".join(chunks)


    async def _parsed(self, request: web.Request, model: type[M]) -> M | web.Response:
        """The body read within the limit (:meth:`_body`) and validated as ``model``, or the
        4xx answer that says why not."""
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        try:
            return model.model_validate_json(body)
        except ValidationError as err:
            message, problems = _validation_message(err)
            return _error(400, message, problems=problems)

    async def enroll(self, request: web.Request) -> web.Response:
        who = request.remote or "?"
        if not self._bucket.allow(who, time.monotonic()):
            return _error(429, "too many enrollments from this address; try again later")
        req = await self._parsed(request, EnrollRequest)
        if isinstance(req, web.Response):
            return req
        expected = self.settings.enroll_secret()
        if expected is None:
            return _error(403, "enrollment is closed: the collector has no enrollment secret")
        if not hmac.compare_digest(req.secret.encode(), expected.encode()):
            log.warning("enrollment with a wrong secret from %s (%s)", who, req.hostname)
            return _error(401, "wrong enrollment secret")
        try:
            revoked = await self.ingest.store.revoked_host(req.hostname, req.machine_id)
            if revoked is not None:
                log.info("enrollment of %s from %s refused: its agent %s was revoked", req.hostname,
                         who, revoked.agent_id)
                return _error(403, f"host {revoked.hostname} was revoked on "
                              f"{_utc(revoked.revoked_at)}: it may enroll again only after an "
                              f"admin runs `fleetwatch agents allow {revoked.hostname}`",
                              revoked=True, hostname=revoked.hostname)
            row, token = await self.ingest.store.enroll(req.hostname, who,
                                                        machine_id=req.machine_id)
        except (sqlite3.Error, AgentStoreError) as err:
            log.error("agents database: %s", err)
            return _error(503, "agents database unavailable; try again later")
        log.info("agent %s enrolled (%s from %s)", row.id, row.hostname, who)
        return web.json_response({"agent_id": row.id, "token": token})

    async def reports(self, request: web.Request) -> web.Response:
        agent = await self._agent(request)
        if agent is None:
            self.ingest.stats.rejected += 1
            return await self._refused(request)
        batch = await self._parsed(request, ReportBatch)
        if isinstance(batch, web.Response):
            self.ingest.stats.rejected += 1
            return batch
        for i, r in enumerate(batch.reports):
            if r.agent_id != agent.id:
                self.ingest.stats.rejected += 1
                return _error(400, f"reports.{i}.agent_id: {r.agent_id!r} is not this token's "
                              f"agent ({agent.id})")
        try:
            accepted, duplicates = await self.ingest.handle_batch(agent, batch.reports)
        except (sqlite3.Error, AgentStoreError) as err:  # nothing recorded: the agent retries
            log.error("agents database: %s", err)
            return _error(503, "agents database unavailable; the report stays queued")
        except StorageError as err:  # the writer refused (closing): no key recorded either
            log.error("storage: %s", err)
            return _error(503, "storage unavailable; the report stays queued")
        return web.json_response({"accepted": accepted, "duplicates": duplicates})

    async def _inventories(self) -> dict[str, Any]:
        return {a: {"time": t, **json.loads(d)}
                for a, (t, d) in (await self.ingest.store.inventories()).items()}

    async def list(self, request: web.Request) -> web.Response:
        inv = await self._inventories()
        agents = [{**a.to_json(), "device": self.ingest.device_for(a).name,
                   "inventory": inv.get(a.id)} for a in await self.ingest.store.all_agents()]
        revoked = [r.to_json() for r in await self.ingest.store.revoked_hosts()]
        return web.json_response({"agents": agents, "revoked_hosts": revoked})

    async def get(self, request: web.Request) -> web.Response:
        try:
            a = await self.ingest.store.get(request.match_info["agent"])
        except AgentNotFound as err:
            return _error(404, str(err))
        inv = (await self._inventories()).get(a.id)
        return web.json_response({**a.to_json(), "device": self.ingest.device_for(a).name,
                                  "inventory": inv})

    async def _refused(self, request: web.Request) -> web.Response:
        """The 401 for a token that does not authenticate, saying whether it was revoked."""
        _, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        row = await self.ingest.store.revoked_by_token(token) if 0 < len(token) <= 512 else None
        if row is not None and row.revoked_at is not None:
            return _error(401, f"agent {row.id} ({row.hostname}) was revoked on "
                          f"{_utc(row.revoked_at)}: do not enroll again until an admin runs "
                          f"`fleetwatch agents allow {row.hostname}`", revoked=True)
        return _error(401, "unknown agent token (enroll again)")

    @staticmethod
    def _admin_refusal(request: web.Request) -> web.Response | None:
        token = request.app[CONFIG].collector.api_token
        if token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode(), token.reveal().encode()):
                return _error(401, "missing or wrong bearer token (Authorization: Bearer "
                              "<token>)")
        return None

    async def allow(self, request: web.Request) -> web.Response:
        refused = self._admin_refusal(request)
        if refused is not None:
            return refused
        req = await self._parsed(request, AllowRequest)
        if isinstance(req, web.Response):
            return req
        rows = await self.ingest.store.allow(req.host)
        if not rows:
            return _error(404, f"no revoked host, machine id or agent matches {req.host!r}")
        log.info("revoked host %s allowed to enroll again", rows[0].hostname)
        return web.json_response({"allowed": [r.to_json() for r in rows]})

    async def revoke(self, request: web.Request) -> web.Response:
        refused = self._admin_refusal(request)
        if refused is not None:
            return refused
        try:
            a = await self.ingest.store.revoke(request.match_info["agent"])
        except AgentNotFound as err:
            return _error(404, str(err))
        self.forget_tokens()
        log.info("agent %s (%s) revoked", a.id, a.hostname)
        return web.json_response(a.to_json())


def setup(app: web.Application, settings: IngestSettings) -> None:
    """Register the routes and the cleanup context (opens ``<state_dir>/agents.sqlite3`` and
    starts the silence watch; append it after the ticket queue's, so that the fault engine is
    among the sinks)."""
    holder: dict[str, AgentsApi] = {}

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        config = app[CONFIG]
        store = await AgentStore.open(config.collector.state_dir / DB_NAME)
        ingest = Ingest(store, settings, config, app[SINKS])
        holder["api"] = AgentsApi(ingest, settings)
        app[INGEST] = ingest
        app[STATS]["ingest"] = ingest
        ingest.start()
        try:
            yield
        finally:
            await ingest.stop()
            await store.close()

    def route(name: str) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            api = holder.get("api")
            if api is None:
                return _error(503, "agent ingest is not running")
            result: web.StreamResponse = await getattr(api, name)(request)
            return result
        return handler

    app.cleanup_ctx.append(ctx)
    # agents authenticate themselves (the enrollment secret, then their own token): these two
    # are "public" in collector/auth/roles.py
    app.router.add_post("/api/v1/agents/enroll", route("enroll"))
    app.router.add_post("/api/v1/agents/reports", route("reports"))
    app.router.add_get("/api/v1/agents", route("list"))
    app.router.add_get("/api/v1/agents/{agent}", route("get"))
    app.router.add_post("/api/v1/agents/{agent}/revoke", route("revoke"))
    app.router.add_post("/api/v1/agents/allow", route("allow"))
