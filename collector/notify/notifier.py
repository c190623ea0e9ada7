"""Tell people about tickets: a webhook (JSON POST) and e-mail over SMTP, each optional.

Contracts (docs/tickets.md, "Notifications: the outbox"):

- Notices are rows of the ticket database's outbox, written in the same transaction as the
  ticket change that causes them (:class:`~collector.tickets.store.TicketStore`); nothing is
  queued in memory, so a crash or a stop loses none.
- :meth:`Notifier.notify` is only a nudge: it never blocks and never raises.
- One worker per channel sends its rows in order, retries with exponential backoff, and marks
  each row delivered after the receiver's 2xx; see :class:`Notifier`.
- ``stop(drain)`` sends what it can within ``drain`` s; the rest waits for the next start.

The webhook body is ``{"id", "event", "at", "text", "ticket"}``: ``text`` is one human line (chat tools
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
from collector.tickets.store import OUTBOX_KEEP, OutboxItem, Ticket, TicketStore
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
    """``id``: the same for every channel and every retry of one notice (receivers may
    deduplicate on it: webhook body ``id`` and ``Idempotency-Key`` header, mail Message-ID)."""

    event: str
    ticket: dict[str, Any]
    at: float = field(default_factory=time.time)
    id: str = ""

    @property
    def text(self) -> str:
        t = self.ticket
        return f"Ticket #{t['id']} {self.event}: {t['title']} ({t['severity']})"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "event": self.event, "at": self.at, "text": self.text,
                "ticket": self.ticket}


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
        if notice.id:
            headers["Idempotency-Key"] = notice.id
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
    if notice.id:
        msg["Message-ID"] = f"<{notice.id}@fleetwatch>"
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
    """``pending``: notices in the outbox not yet delivered (all channels, as last seen);
    ``sent``; ``retried``: failed tries that will be tried again; ``failed``: notices given up
    (refused permanently, or older than ``max_age``)."""

    pending: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0


@dataclass(slots=True)
class _ChannelState:
    channel: Channel
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)
    failures_in_row: int = 0
    failing_since: float | None = None
    last_error: str = ""
    refused: int = 0


class Notifier:
    """The outbox deliverer. ``Notifier(config, store)``, ``await start()``, ``notify(...)`` (a
    nudge) from anywhere, ``await stop(drain)``.

    The notices themselves are rows of the store's outbox, written by the ticket change's own
    transaction (:meth:`channel_names` tells the store which channels get rows). One worker per
    channel sends its pending rows oldest first, one at a time (order is kept), marks each
    ``sent`` in the database after the receiver's 2xx, and retries a failed one with
    exponential backoff (``backoff`` doubling up to ``backoff_max`` s) until it goes through, is
    refused permanently (HTTP 4xx other than 408/429; SMTP authentication or recipients refused)
    or is older than ``max_age`` s. Undelivered rows survive a crash or a stop: the next start
    sends them. A receiver is sent each notice once, except when the process dies between the
    receiver's answer and the commit of ``sent`` (then once more, with the same ``id``)."""

    def __init__(self, config: NotificationConfig, store: TicketStore,
                 http: aiohttp.ClientSession | None = None, *, backoff: float = 1.0,
                 backoff_max: float = 60.0, max_age: float = 86400.0,
                 poll: float = 5.0) -> None:
        self.config = config
        self.store = store
        self._http = http
        self._own_http: aiohttp.ClientSession | None = None
        self._backoff = backoff
        self._backoff_max = backoff_max
        self._max_age = max_age
        self._poll = poll  # a safety net: rows written by another process are found this fast
        self._channels: list[_ChannelState] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._draining_over = False
        self.stats = NotifierStats()

    @staticmethod
    def channel_names(config: NotificationConfig) -> tuple[str, ...]:
        """The outbox channels ``config`` enables (give them to ``TicketStore.open``)."""
        return ((WebhookChannel.name,) if config.webhook is not None else ()) + (
            (EmailChannel.name,) if config.email is not None else ())

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
        counts = await self.store.outbox_counts()
        await self.store.outbox_prune(time.time() - OUTBOX_KEEP)
        for channel in channels:
            state = _ChannelState(channel, pending=counts.get(channel.name, 0))
            if state.pending:
                log.info("%s: %d notices left by an earlier run wait in the outbox; sending "
                         "them first", channel.name, state.pending)
            self._channels.append(state)
            self._tasks.append(asyncio.create_task(self._worker(state),
                                                   name=f"notify:{channel.name}"))
        configured = {c.name for c in channels}
        for name, n in counts.items():
            if name not in configured:
                log.warning("outbox: %d notices for the %s channel wait, but it is not "
                            "configured (they are kept)", n, name)
        self._note_pending()

    async def stop(self, drain: float = 2.0) -> None:
        """Send what is pending for up to ``drain`` s, then stop. A send in flight at the
        deadline is let finish (its own timeout bounds it), so that it is marked; what was not
        sent stays in the outbox for the next start: nothing is lost."""
        self._stopping = True
        for st in self._channels:
            st.wake.set()
        if self._channels and drain > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain):
                    await asyncio.gather(*(st.idle.wait() for st in self._channels))
        self._draining_over = True
        for st in self._channels:
            st.wake.set()
        # Workers stop before their next send; wait for a send in flight (bounded by its
        # timeout plus backoff), then cancel what is left (only sleeps and waits).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._send_bound()):
                await asyncio.gather(*self._tasks, return_exceptions=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        left = sum(st.pending for st in self._channels)
        if left:
            log.info("notifications: %d notices not sent yet stay in the outbox for the next "
                     "start", left)
        self._tasks.clear()
        self._channels.clear()
        if self._own_http is not None:
            await self._own_http.close()
            self._own_http = None

    def _send_bound(self) -> float:
        bound = 1.0
        if self.config.webhook is not None:
            bound = max(bound, self.config.webhook.timeout + 1)
        if self.config.email is not None:
            bound = max(bound, self.config.email.timeout + 1)
        return bound

    def notify(self, event: str, ticket: Ticket) -> None:
        """A nudge after a ticket change: the notice is already in the outbox (written by the
        change's transaction); wake the workers. Never blocks, never raises."""
        for st in self._channels:
            st.wake.set()

    def health(self) -> dict[str, str]:
        """``failing`` while a channel's receiver keeps failing (its retries in a row used up),
        ``degraded`` when notices were given up; the reason names the channel and error."""
        failing: list[str] = []
        degraded: list[str] = []
        now = time.monotonic()
        for st in self._channels:
            name = st.channel.name
            if st.failing_since is not None and st.failures_in_row >= max(1, st.channel.retries):
                failing.append(f"{name}: {st.failures_in_row} tries in a row failed over "
                               f"{now - st.failing_since:.0f} s ({st.last_error}); "
                               f"{st.pending} notices wait in the outbox")
            if st.refused:
                degraded.append(f"{name}: {st.refused} notices given up ({st.last_error})")
        status = "failing" if failing else "degraded" if degraded else "ok"
        return {"status": status, "reason": "; ".join(failing + degraded)}

    def _note_pending(self) -> None:
        self.stats.pending = sum(st.pending for st in self._channels)

    async def _worker(self, st: _ChannelState) -> None:
        while True:
            if self._draining_over:
                return
            st.wake.clear()
            try:
                items = await self.store.outbox_pending(st.channel.name)
            except FleetwatchError as err:  # the store fails: health shows it; try again
                log.debug("%s: outbox unreadable: %s", st.channel.name, err)
                items = None
            if items is not None:
                st.pending = len(items) if len(items) < 100 else max(st.pending, len(items))
                self._note_pending()
            if not items:
                if items is not None:
                    st.pending = 0
                    self._note_pending()
                    st.idle.set()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll):
                        await st.wake.wait()
                continue
            st.idle.clear()
            for item in items:
                if self._draining_over or not await self._deliver(st, item):
                    st.idle.set()  # stopping: nothing more will be sent by this worker
                    return
                st.pending = max(0, st.pending - 1)
                self._note_pending()

    async def _deliver(self, st: _ChannelState, item: OutboxItem) -> bool:
        """Send one notice until it is sent or given up; False if stopping first."""
        channel = st.channel
        notice = Notice(item.event, dict(item.payload), at=item.at, id=item.notice)
        attempt = 0
        while True:
            if time.time() - item.at > self._max_age:
                await self._done(st, item, "expired", "older than max_age")
                self.stats.failed += 1
                log.warning("%s: giving up on %r: not delivered within %.0f s", channel.name,
                            notice.text, self._max_age)
                return True
            try:
                await channel.send(notice)
            except DeliveryError as err:
                st.last_error = str(err)
                if err.permanent:
                    await self._done(st, item, "refused", str(err))
                    st.refused += 1
                    self.stats.failed += 1
                    log.warning("%s: %r refused, not retried: %s", channel.name, notice.text,
                                err)
                    return True
                st.failures_in_row += 1
                if st.failing_since is None:
                    st.failing_since = time.monotonic()
                if st.failures_in_row == max(1, channel.retries):
                    log.error("%s: receiver keeps failing (%d tries): %s; notices wait in the "
                              "outbox", channel.name, st.failures_in_row, err)
                self.stats.retried += 1
                with contextlib.suppress(FleetwatchError):
                    await self.store.outbox_attempt_failed(item.id, str(err))
                    st.pending = (await self.store.outbox_counts()).get(channel.name, 0)
                    self._note_pending()
                delay = min(self._backoff_max, self._backoff * 2 ** min(attempt, 30))
                attempt += 1
                log.debug("%s: %s; retry %d in %.1f s", channel.name, err, attempt, delay)
                if self._stopping:
                    return False  # it stays pending for the next start
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        while not self._stopping:
                            await st.wake.wait()
                            st.wake.clear()
                if self._stopping:
                    return False
                continue
            except Exception:  # a bug in a channel must not end the worker
                log.exception("%s: cannot send %r", channel.name, notice.text)
                await self._done(st, item, "refused", "internal error")
                self.stats.failed += 1
                return True
            if st.failures_in_row >= max(1, channel.retries):
                log.info("%s: receiver works again", channel.name)
            st.failures_in_row, st.failing_since = 0, None
            await self._done(st, item, "sent", None)
            self.stats.sent += 1
            return True

    async def _done(self, st: _ChannelState, item: OutboxItem, outcome: str,
                    error: str | None) -> None:
        # The store may fail right now (disk full): keep trying, the notice must not be sent
        # twice just because its mark was lost.
        delay = 0.1
        while True:
            try:
                await self.store.outbox_done(item.id, outcome, at=time.time(), error=error)
                return
            except FleetwatchError as err:
                log.debug("%s: cannot mark notice %d %s: %s", st.channel.name, item.id, outcome,
                          err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
