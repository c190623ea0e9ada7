"""Talking to the collector: enrollment and batched report POSTs (:class:`Transport`).

Synchronous ``http.client`` on one kept-alive connection, called from the agent's sender thread.
(aiohttp and asyncio would cost about 20 MB of the agent's 30 MB budget for one request every
10 s; docs/benchmarks.md.)

Contracts:
- Every request has a socket timeout (``timeout`` seconds for connect and each read).
- :meth:`Transport.send` returns what happened as a :class:`Sent` outcome and never raises for
  the network or the collector's answer: the caller keeps the reports queued on anything but
  ``ok`` (and drops a batch only when it is alone and ``rejected`` or ``too_large``).
- :meth:`Transport.enroll` raises :class:`EnrollError` (``retry`` says whether trying again
  later can help), :class:`Revoked` when the collector refuses this host because its agent was
  revoked.
- A 401 on reports for a revoked agent is the outcome ``revoked`` (other 401s ``unauthorized``).
- The token and the enrollment secret are never logged.
"""

from __future__ import annotations

import http.client
import json
import logging
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from probes.errors import FleetwatchError

log = logging.getLogger(__name__)

Outcome = Literal["ok", "unauthorized", "revoked", "too_large", "rejected", "unavailable"]


class EnrollError(FleetwatchError):
    """The collector refused the enrollment, or could not be reached for it."""

    def __init__(self, message: str, *, retry: bool) -> None:
        super().__init__(message)
        self.retry = retry


class Revoked(EnrollError):
    """The collector revoked this host's agent: enrolling again needs an admin
    (``fleetwatch agents allow HOST``), so the agent must not keep trying soon."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retry=False)


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: Outcome
    detail: str = ""
    accepted: int = 0
    duplicates: int = 0


class Transport:
    def __init__(self, base_url: str, timeout: float, ca_file: Path | None = None) -> None:
        url = urllib.parse.urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise FleetwatchError(f"collector_url must be http(s)://HOST[:PORT], not "
                                  f"{base_url!r}")
        self._https = url.scheme == "https"
        self._host = url.hostname
        self._port = url.port or (443 if self._https else 80)
        self._prefix = url.path.rstrip("/")
        self._timeout = timeout
        self._ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file else None) \
            if self._https else None
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
        """One POST on the kept-alive connection (reconnecting once if the collector closed
        it in between). Raises OSError / http.client.HTTPException."""
        with self._lock:
            for attempt in (1, 2):
                conn = self._conn
                if conn is None:
                    conn = self._conn = (http.client.HTTPSConnection(
                        self._host, self._port, timeout=self._timeout, context=self._ctx)
                        if self._https else
                        http.client.HTTPConnection(self._host, self._port,
                                                   timeout=self._timeout))
                try:
                    conn.request("POST", self._prefix + path, body=body,
                                       headers={"Content-Type": "application/json", **headers})
                    resp = conn.getresponse()
                    text = resp.read().decode("utf-8", "replace")
                    if resp.getheader("Connection", "").lower() == "close":
                        conn.close()
                        self._conn = None
                    return resp.status, text
                except (http.client.RemoteDisconnected, BrokenPipeError,
                        ConnectionResetError) as err:
                    conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
                    log.debug("connection to the collector dropped (%s): reconnecting", err)
                except (OSError, http.client.HTTPException):
                    conn.close()
                    self._conn = None
                    raise
            raise AssertionError("unreachable")

    def enroll(self, secret: str, hostname: str, machine_id: str | None = None
               ) -> tuple[str, str]:
        """(agent id, token)."""
        fields = {"secret": secret, "hostname": hostname}
        if machine_id:
            fields["machine_id"] = machine_id
        body = json.dumps(fields).encode()
        try:
            status, text = self._post("/api/v1/agents/enroll", body, {})
        except (OSError, http.client.HTTPException) as err:
            raise EnrollError(f"enrollment failed: {err or type(err).__name__}",
                              retry=True) from err
        if status == 200:
            try:
                data = json.loads(text)
                return str(data["agent_id"]), str(data["token"])
            except (ValueError, KeyError, TypeError) as err:
                raise EnrollError(f"enrollment answer not understood: {text[:200]}",
                                  retry=True) from err
        if status == 403 and _flag(text, "revoked"):
            raise Revoked(f"enrollment refused: {_message(text)}")
        # 429 (rate limit) and 5xx pass; a wrong secret (401/403) or 400 needs a person
        raise EnrollError(f"enrollment refused ({status}): {_message(text)}",
                          retry=status == 429 or status >= 500)

    def send(self, token: str, body: bytes) -> Sent:
        try:
            status, text = self._post("/api/v1/agents/reports", body,
                                      {"Authorization": f"Bearer {token}"})
        except (OSError, http.client.HTTPException) as err:
            return Sent("unavailable", str(err) or type(err).__name__)
        if status == 200:
            try:
                data = json.loads(text)
                return Sent("ok", accepted=int(data.get("accepted", 0)),
                            duplicates=int(data.get("duplicates", 0)))
            except (ValueError, TypeError, AttributeError):
                return Sent("unavailable", f"200 with an answer not understood: {text[:100]}")
        detail = _message(text)
        if status == 401:
            return Sent("revoked" if _flag(text, "revoked") else "unauthorized", detail)
        if status == 413:
            return Sent("too_large", detail)
        if status in (400, 422):
            return Sent("rejected", detail)
        return Sent("unavailable", f"{status} {detail}")


def _flag(body: str, key: str) -> bool:
    """Whether the JSON object ``body`` has ``key`` set to true."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get(key) is True


def _message(body: str) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        return body[:200]
    if isinstance(data, dict):
        return str(data.get("error") or data.get("message") or "")[:500]
    return ""
