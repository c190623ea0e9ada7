"""Tell people about tickets: a webhook (JSON POST) and e-mail over SMTP, each optional.

Contracts:

- :meth:`Notifier.notify` never blocks and never raises: it puts the notice on each channel's
  bounded queue (a full queue drops its oldest notice, logged) and returns. Polling and the
  fault engine never wait for a receiver.
- One worker task per channel sends the notices in order. A failed send is retried with
  exponential backoff (``backoff``, doubling, at most ``backoff_max`` seconds) up to the channel's
  retries; a permanent refusal (HTTP 4xx other than 408/429, SMTP authentication or recipients
  refused) is not retried. After the last try the notice is logged and dropped.
- ``stop()`` gives the queues a short time to drain, then cancels the workers.

The webhook body is ``{"event", "at", "text", "ticket"}``: ``text`` is one human line (chat tools
such as Mattermost/Slack-compatible incoming webhooks show it as is), ``ticket`` the same JSON as
``GET /api/v1/tickets/{id}`` without the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import smtplib
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Final, Protocol

import aiohttp

from collector.config import EmailConfig, NotificationConfig, WebhookConfig
from collector.tickets.store import Ticket
from probes.errors import FleetwatchError

log = logging.getLogger(__name__)

EMAIL_RETRIES: Final = 3
EVENTS: Final = ("opened", "reopened", "resolved")  # what a notice may say happened


class DeliveryError(FleetwatchError):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Notice:
    event: str
    ticket: dict[str, Any]
    at: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        t = self.ticket
        return f"Ticket #{t['id']} {self.event}: {t['title']} ({t['severity']})"

    def to_json(self) -> dict[str, Any]:
        return {"event": self.event, "at": self.at, "text": self.text, "ticket": self.ticket}


class Channel(Protocol):
    name: str
    retries: int

    async def send(self, notice: Notice) -> None:
        """Deliver one notice or raise DeliveryError."""


class WebhookChannel:
    name = "webhook"

    def __init__(self, config: WebhookConfig, session: aiohttp.ClientSession) -> None:
        self.config = config
        self.retries = config.retries
        self._session = session

    async def send(self, notice: Notice) -> None:
        headers = {"Content-Type": "application/json", **self.config.headers}
        try:
            async with asyncio.timeout(self.config.timeout):
                async with self._session.post(self.config.url, json=notice.to_json(),
                                              headers=headers) as resp:
                    await resp.read()
                    status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise DeliveryError(f"POST {self.config.url}: {type(err).__name__} {err}") from err
        if 200 <= status < 300:
            return
        permanent = 400 <= status < 500 and status not in {408, 429}
        raise DeliveryError(f"POST {self.config.url}: HTTP {status}", permanent=permanent)


def email_message(config: EmailConfig, notice: Notice) -> EmailMessage:
    t = notice.ticket
    msg = EmailMessage()
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Subject"] = f"[Fleetwatch] {notice.text}"
    msg["Date"] = dt.datetime.fromtimestamp(notice.at, dt.UTC).strftime(
        "%a, %d %b %Y %H:%M:%S +0000")
    lines = [notice.text, ""]
    for key in ("kind", "state", "severity", "device", "site", "fault_key", "part_number",
                "assignee"):
        if t.get(key):
            lines.append(f"{key.replace('_', ' ').capitalize()}: {t[key]}")
    if t.get("description"):
        lines += ["", str(t["description"])]
    msg.set_content("\n".join(lines) + "\n")
    return msg


class EmailChannel:
    name = "email"

    def __init__(self, config: EmailConfig) -> None:
        self.config = config
        self.retries = EMAIL_RETRIES

    async def send(self, notice: Notice) -> None:
        # smtplib is blocking; its own timeout bounds every socket operation.
        await asyncio.to_thread(self._send, email_message(self.config, notice))

    def _send(self, msg: EmailMessage) -> None:
        c = self.config
        try:
            with smtplib.SMTP(c.host, c.port, timeout=c.timeout) as smtp:
                if c.starttls:
                    smtp.starttls()
                if c.username and c.password is not None:
                    smtp.login(c.username, c.password.reveal())
                smtp.send_message(msg, from_addr=c.sender, to_addrs=list(c.to))
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused,
                smtplib.SMTPSenderRefused) as err:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {err}", permanent=True) from err
        except (smtplib.SMTPException, OSError) as err:
            raise DeliveryError(f"SMTP {c.host}:{c.port}: {type(err).__name__} {err}") from err


@dataclass(slots=True)
class NotifierStats:
    queued: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0


class Notifier:
    """Create, ``await start()``, ``notify(...)`` from anywhere, ``await stop()``."""

    def __init__(self, config: NotificationConfig, http: aiohttp.ClientSession | None = None, *,
                 queue_size: int = 1000, backoff: float = 1.0, backoff_max: float = 60.0) -> None:
        self.config = config
        self._http = http
        self._own_http: aiohttp.ClientSession | None = None
        self._queue_size = queue_size
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._channels: list[tuple[Channel, asyncio.Queue[Notice]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = NotifierStats()

    @property
    def enabled(self) -> bool:
        return self.config.webhook is not None or self.config.email is not None

    async def start(self) -> None:
        channels: list[Channel] = []
        if self.config.webhook is not None:
            session = self._http
            if session is None:
                session = self._own_http = aiohttp.ClientSession()
            channels.append(WebhookChannel(self.config.webhook, session))
        if self.config.email is not None:
            channels.append(EmailChannel(self.config.email))
        for channel in channels:
            queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=self._queue_size)
            self._channels.append((channel, queue))
            self._tasks.append(asyncio.create_task(self._worker(channel, queue),
                                                   name=f"notify:{channel.name}"))

    async def stop(self, drain: float = 2.0) -> None:
        """Let queued notices go out for up to ``drain`` seconds, then stop the workers."""
        if self._channels and drain > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain):
                    await asyncio.gather(*(q.join() for _, q in self._channels))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._channels.clear()
        if self._own_http is not None:
            await self._own_http.close()
            self._own_http = None

    def notify(self, event: str, ticket: Ticket) -> None:
        """Queue a notice about ``ticket`` on every channel. Never blocks, never raises."""
        notice = Notice(event, ticket.to_json())
        for channel, queue in self._channels:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    old = queue.get_nowait()
                    queue.task_done()
                    self.stats.dropped += 1
                    log.warning("%s queue full: dropped notice %r", channel.name, old.text)
            queue.put_nowait(notice)
            self.stats.queued += 1

    async def _worker(self, channel: Channel, queue: asyncio.Queue[Notice]) -> None:
        while True:
            notice = await queue.get()
            try:
                await self._deliver(channel, notice)
            except Exception:  # a bug in a channel must not end the worker
                self.stats.failed += 1
                log.exception("%s: cannot send %r", channel.name, notice.text)
            finally:
                queue.task_done()

    async def _deliver(self, channel: Channel, notice: Notice) -> None:
        attempt = 0
        while True:
            try:
                await channel.send(notice)
            except DeliveryError as err:
                if err.permanent or attempt >= channel.retries:
                    self.stats.failed += 1
                    log.warning("%s: giving up on %r after %d tries: %s", channel.name,
                                notice.text, attempt + 1, err)
                    return
                delay = min(self._backoff_max, self._backoff * 2 ** attempt)
                attempt += 1
                self.stats.retried += 1
                log.debug("%s: %s; retry %d in %.1f s", channel.name, err, attempt, delay)
                await asyncio.sleep(delay)
            else:
                self.stats.sent += 1
                return
