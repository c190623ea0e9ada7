"""A small InfluxQL reader over ``/query`` (InfluxDB 1.x; 2.x with a DBRP mapping; 3.x).

Auth follows :class:`~collector.config.StorageConfig`: ``username``/``password`` → HTTP basic auth
(1.x), otherwise ``token`` → ``Authorization: Token …`` (the 1.x-compatible API of 2.x/3.x).
Timestamps come back as integer nanoseconds (``epoch=ns``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp

from collector.config import StorageConfig
from collector.storage import QueryError

# Statements that change nothing go out as GET; everything else as POST (1.x warns otherwise).
_READ_ONLY = ("SELECT", "SHOW")


def auth_headers(cfg: StorageConfig) -> dict[str, str]:
    """The ``Authorization`` header for the v1 API (``/write``, ``/query``), or none."""
    if cfg.username is not None:
        password = cfg.password.reveal() if cfg.password is not None else ""
        # by hand: aiohttp.BasicAuth is deprecated, and encode_basic_auth needs aiohttp 3.14
        pair = base64.b64encode(f"{cfg.username}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {pair}"}
    if cfg.token is not None:
        return {"Authorization": f"Token {cfg.token.reveal()}"}
    return {}


def server_message(body: str) -> str:
    """The error text of an InfluxDB answer: 1.x ``{"error": …}``, 2.x/3.x ``{"message": …}``,
    else the body itself (trimmed)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:2000]
    if isinstance(data, dict):
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return body.strip()[:2000]


def series_rows(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten a ``/query`` JSON answer into rows: ``{"_measurement": series name, **tags,
    column: value, …}``, statements and series in the server's order.

    Raises QueryError when a statement reports an error.
    """
    rows: list[dict[str, Any]] = []
    for result in payload.get("results", []):
        if "error" in result:
            raise QueryError(str(result["error"]))
        for series in result.get("series", []):
            base = {"_measurement": series.get("name"), **(series.get("tags") or {})}
            columns = series.get("columns", [])
            for values in series.get("values", []):
                rows.append({**base, **dict(zip(columns, values, strict=False))})
    return rows


class InfluxQuery:
    """Use :meth:`create`; ``close`` it when done (it closes the session only if it made it)."""

    def __init__(self, url: str, session: aiohttp.ClientSession, *, owns_session: bool,
                 headers: dict[str, str], timeout: float) -> None:
        self.url = url.rstrip("/")
        self._session = session
        self._owns_session = owns_session
        self._headers = headers
        self._timeout = timeout

    @classmethod
    async def create(cls, cfg: StorageConfig, session: aiohttp.ClientSession | None = None
                     ) -> InfluxQuery:
        owns = session is None
        return cls(cfg.url, session or aiohttp.ClientSession(), owns_session=owns,
                   headers=auth_headers(cfg), timeout=cfg.timeout)

    async def query(self, q: str, *, db: str | None = None) -> list[dict[str, Any]]:
        """Run InfluxQL ``q`` (against database ``db``) and return its rows (:func:`series_rows`).

        Raises QueryError with the server's message on an HTTP error, a statement error, a
        timeout or an unreachable server (``status`` 0).
        """
        params = {"epoch": "ns"}
        if db is not None:
            params["db"] = db
        read_only = q.lstrip().upper().startswith(_READ_ONLY)
        try:
            async with asyncio.timeout(self._timeout):
                if read_only:
                    request = self._session.get(f"{self.url}/query", params={**params, "q": q},
                                                headers=self._headers)
                else:
                    request = self._session.post(f"{self.url}/query", params=params,
                                                 data={"q": q}, headers=self._headers)
                async with request as resp:
                    body = await resp.text()
                    status = resp.status
        except TimeoutError as err:
            raise QueryError(f"{self.url}/query: no answer within {self._timeout:g} s") from err
        except aiohttp.ClientError as err:
            raise QueryError(f"{self.url}/query: {err}") from err
        if status >= 300:
            raise QueryError(f"{self.url}/query: HTTP {status}: {server_message(body)}",
                             status=status)
        try:
            payload = json.loads(body)
        except ValueError as err:
            raise QueryError(f"{self.url}/query: not JSON: {body[:200]!r}", status=status) from err
        if not isinstance(payload, dict):
            raise QueryError(f"{self.url}/query: unexpected answer {body[:200]!r}", status=status)
        try:
            return series_rows(payload)
        except QueryError as err:
            raise QueryError(f"{self.url}/query: {err}", status=status) from err

    async def close(self) -> None:
        if self._owns_session:
            await self._session.close()
