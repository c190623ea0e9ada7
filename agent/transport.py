"""Talking to the collector: enrollment and batched report POSTs (:class:`Transport`).

Contracts:
- One ``aiohttp.ClientSession``; every request under ``asyncio.timeout(timeout)``.
- :meth:`Transport.send` returns what happened as a :class:`Sent` code, never raises for the
  network or the collector's answer: the caller keeps the reports queued on anything but
  ``ok`` and ``rejected``.
- The token and the enrollment secret are never logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiohttp

from agent.schema import EnrollResponse
from probes.errors import FleetwatchError

log = logging.getLogger(__name__)

Outcome = Literal["ok", "unauthorized", "too_large", "rejected", "unavailable"]


class EnrollError(FleetwatchError):
    """The collector refused the enrollment, or could not be reached for it."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: Outcome
    detail: str = ""
    accepted: int = 0
    duplicates: int = 0


class Transport:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, timeout: float) -> None:
        self._session = session
        self._base = base_url.rstrip("/")
        self._timeout = timeout

    @classmethod
    async def create(cls, base_url: str, timeout: float, ca_file: Path | None = None
                     ) -> Transport:
        ctx = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        connector = aiohttp.TCPConnector(ssl=ctx) if ctx else aiohttp.TCPConnector()
        session = aiohttp.ClientSession(connector=connector)
        return cls(session, base_url, timeout)

    async def close(self) -> None:
        await self._session.close()

    async def enroll(self, secret: str, hostname: str) -> EnrollResponse:
        url = f"{self._base}/api/v1/agents/enroll"
        try:
            async with asyncio.timeout(self._timeout), self._session.post(
                    url, json={"secret": secret, "hostname": hostname}) as resp:
                body = await resp.text()
                if resp.status == 200:
                    return EnrollResponse.model_validate_json(body)
                message = _message(body) or resp.reason or ""
                # 429 (rate limit) and 5xx pass; a wrong secret (401/403) or 400 needs a person
                retry = resp.status == 429 or resp.status >= 500
                raise EnrollError(f"enrollment refused ({resp.status}): {message}", retry=retry)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
            raise EnrollError(f"enrollment failed: {err or type(err).__name__}",
                              retry=True) from err

    async def send(self, token: str, body: bytes) -> Sent:
        url = f"{self._base}/api/v1/agents/reports"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        try:
            async with asyncio.timeout(self._timeout), self._session.post(
                    url, data=body, headers=headers) as resp:
                text = await resp.text()
                if resp.status == 200:
                    data = json.loads(text)
                    return Sent("ok", accepted=int(data.get("accepted", 0)),
                                duplicates=int(data.get("duplicates", 0)))
                detail = _message(text) or resp.reason or ""
                if resp.status == 401:
                    return Sent("unauthorized", detail)
                if resp.status == 413:
                    return Sent("too_large", detail)
                if resp.status in (400, 422):
                    return Sent("rejected", detail)
                return Sent("unavailable", f"{resp.status} {detail}")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as err:
            return Sent("unavailable", str(err) or type(err).__name__)


def _message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or "")[:500]
    return ""
