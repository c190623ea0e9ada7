"""Notifications to real receivers on loopback: an aiohttp webhook server and an aiosmtpd SMTP
server. Tickets come from the real engine and store."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from collector.config import EmailConfig, NotificationConfig, WebhookConfig
from collector.demo import free_port
from collector.faults.engine import FaultEngine
from collector.notify.notifier import Notifier
from collector.tickets.store import DuplicateOpenTicket, IllegalTransition, NewTicket, TicketStore
from tests.apps import Webhook, webhook
from tests.collector.conftest import Clock, printer
from tests.collector.faults.test_engine import PRINTER, SETTINGS
from tests.waiting import async_wait_until as until


@pytest.fixture()
async def hook() -> AsyncIterator[Webhook]:
    async with webhook() as h:
        yield h


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(msg, email.message.EmailMessage)
        self.messages.append(msg)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@pytest.fixture()
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


async def outbox_rows(store: TicketStore) -> list[tuple[str, str, int, str | None]]:
    """(channel, event, ticket_id, outcome) of every outbox row, oldest first (a second
    connection to the same file: what a restart would find)."""
    def read() -> list[tuple[str, str, int, str | None]]:
        with contextlib.closing(sqlite3.connect(store.path)) as conn:
            return [tuple(r) for r in conn.execute(
                "SELECT channel, event, ticket_id, outcome FROM outbox ORDER BY id")]
    return await asyncio.to_thread(read)


async def test_open_and_resolve_reach_webhook_and_mail(store: TicketStore, hook: Webhook,
                                                      smtp: tuple[Mailbox, int]) -> None:
    box, port = smtp
    config = NotificationConfig(
        webhook=WebhookConfig(url=hook.url, headers={"X-Source": "fleetwatch"}, retries=2),
        email=EmailConfig(host="127.0.0.1", port=port, sender="fleetwatch@example.org",
                          to=("desk@example.org", "it@example.org"), timeout=5))
    store.outbox_channels = Notifier.channel_names(config)
    notifier = Notifier(config, store, backoff=0.05)
    await notifier.start()
    clock = Clock()
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), notify=notifier.notify, now=clock)
    try:
        for r in (printer(faults={"jammed"}), printer(faults={"jammed"}), printer()):
            clock.now += 60
            await engine.handle(r, PRINTER)
        await until(lambda: len(hook.received) == 2 and len(box.messages) == 2)
    finally:
        await notifier.stop()

    opened, resolved = hook.received
    assert opened["event"] == "opened" and resolved["event"] == "resolved"
    assert opened["ticket"]["title"] == "p1: Paper jam" and opened["ticket"]["id"] == 1
    assert opened["text"] == "Ticket #1 opened: p1: Paper jam (critical)"
    assert resolved["ticket"]["state"] == "resolved"
    assert hook.headers[0]["X-Source"] == "fleetwatch"
    assert hook.headers[0]["Idempotency-Key"] == opened["id"] != resolved["id"]

    first = box.messages[0]
    assert first["Subject"] == "[Fleetwatch] Ticket #1 opened: p1: Paper jam (critical)"
    assert first["Message-ID"] == f"<{opened['id']}@fleetwatch>"  # one id for both channels
    assert "Device: p1" in first.get_content()
    assert box.envelopes[0] == ("fleetwatch@example.org", ["desk@example.org", "it@example.org"])
    assert "resolved" in box.messages[1]["Subject"]
    assert notifier.stats.sent == 4 and notifier.stats.failed == 0
    assert await outbox_rows(store) == [
        ("webhook", "opened", 1, "sent"), ("email", "opened", 1, "sent"),
        ("webhook", "resolved", 1, "sent"), ("email", "resolved", 1, "sent")]


async def test_the_outbox_row_commits_with_its_change_or_not_at_all(store: TicketStore) -> None:
    store.outbox_channels = ("webhook",)
    t = await store.create(NewTicket(kind="fault", title="jam", device="p1", fault_key="jam"),
                           by="t", at=time.time())
    with pytest.raises(DuplicateOpenTicket):  # refused: no ticket, so no notice either
        await store.create(NewTicket(kind="fault", title="jam", device="p1", fault_key="jam"),
                           by="t", at=time.time())
    await store.change(t.id, by="t", at=time.time(), comment="looking")  # not notice-worthy
    await store.change(t.id, by="t", at=time.time(), state="resolved")
    with pytest.raises(IllegalTransition):
        await store.change(t.id, by="t", at=time.time(), state="acknowledged")
    await store.change(t.id, by="t", at=time.time(), state="open")
    assert await outbox_rows(store) == [("webhook", "opened", 1, None),
                                        ("webhook", "resolved", 1, None),
                                        ("webhook", "reopened", 1, None)]


async def test_webhook_retries_with_backoff(store: TicketStore, hook: Webhook) -> None:
    hook.script = [500, 503]  # two failures, then success
    store.outbox_channels = ("webhook",)
    notifier = Notifier(NotificationConfig(webhook=WebhookConfig(url=hook.url, retries=3)),
                        store, backoff=0.05)
    await notifier.start()
    try:
        ticket = await _a_ticket(store)
        notifier.notify("opened", ticket)
        await asyncio.wait_for(hook.got.wait(), 10)
        await until(lambda: notifier.stats.sent == 1)
    finally:
        await notifier.stop()
    assert hook.attempts == 3 and len(hook.received) == 1
    assert notifier.stats.retried == 2 and notifier.stats.sent == 1
    assert notifier.health()["status"] == "ok"


async def test_webhook_permanent_refusal_is_not_retried(store: TicketStore, hook: Webhook) -> None:
    hook.script = [404]
    store.outbox_channels = ("webhook",)
    notifier = Notifier(NotificationConfig(webhook=WebhookConfig(url=hook.url, retries=3)),
                        store, backoff=0.05)
    await notifier.start()
    try:
        notifier.notify("opened", await _a_ticket(store))
        await until(lambda: notifier.stats.failed == 1)
        await asyncio.sleep(0.3)  # time passes: no retry of a permanent refusal
        health = notifier.health()
    finally:
        await notifier.stop()
    assert hook.attempts == 1 and not hook.received
    assert health["status"] == "degraded" and "HTTP 404" in health["reason"]
    assert await outbox_rows(store) == [("webhook", "opened", 1, "refused")]


async def test_a_failing_receiver_never_blocks_polling_and_health_says_so(
        store: TicketStore, hook: Webhook) -> None:
    hook.delay = 1.0  # hangs longer than the webhook timeout
    dead_smtp = free_port()  # nothing listens there
    config = NotificationConfig(
        webhook=WebhookConfig(url=hook.url, timeout=0.3, retries=1),
        email=EmailConfig(host="127.0.0.1", port=dead_smtp, to=("desk@example.org",), timeout=1))
    store.outbox_channels = Notifier.channel_names(config)
    notifier = Notifier(config, store, backoff=0.05, backoff_max=0.2)
    await notifier.start()
    clock = Clock()
    engine = FaultEngine(store, SETTINGS, devices=(PRINTER,), notify=notifier.notify, now=clock)
    try:
        started = time.monotonic()
        for i in range(20):  # opened, resolved, reopened (then damped: it flaps)
            clock.now += 60
            await engine.handle(printer(faults={"jammed"} if i % 4 < 2 else set()), PRINTER)
        assert time.monotonic() - started < 1.0, "handle waited for a receiver"
        await until(lambda: "webhook" in notifier.health()["reason"]
                    and "email" in notifier.health()["reason"], timeout=15)
        health = notifier.health()
        hook.delay = 0.0  # the receiver is back: everything waiting goes out, in order
        await until(lambda: len(hook.received) == 3, timeout=15)
    finally:
        t0 = time.monotonic()
        await notifier.stop(drain=0.2)
        assert time.monotonic() - t0 < 3.0
    assert health["status"] == "failing"
    assert "3 notices wait" in health["reason"] and "Connection refused" in health["reason"]
    assert [n["event"] for n in hook.received] == ["opened", "resolved", "reopened"]
    rows = await outbox_rows(store)
    assert [r[3] for r in rows if r[0] == "email"] == [None, None, None]  # still waiting


async def test_undelivered_notices_survive_a_restart_and_go_once(tmp_path: Path,
                                                                 hook: Webhook) -> None:
    config = NotificationConfig(webhook=WebhookConfig(url=hook.url, timeout=0.5, retries=2))
    path = tmp_path / "t.sqlite3"
    store = await TicketStore.open(path, outbox_channels=Notifier.channel_names(config))
    hook.script = [503] * 1000  # the receiver is down for this whole run
    notifier = Notifier(config, store, backoff=0.05, backoff_max=0.1)
    await notifier.start()
    for _ in range(5):
        notifier.notify("opened", await _a_ticket(store))
    await until(lambda: hook.attempts >= 3)
    await notifier.stop(drain=0.3)  # drains nothing: all five stay in the outbox
    await store.close()
    assert not hook.received

    hook.script = []  # back
    store = await TicketStore.open(path, outbox_channels=Notifier.channel_names(config))
    notifier = Notifier(config, store, backoff=0.05)
    await notifier.start()  # nobody calls notify(): the outbox alone is enough
    try:
        await until(lambda: len(hook.received) == 5)
        await asyncio.sleep(0.3)
    finally:
        await notifier.stop()
        await store.close()
    assert [n["ticket"]["id"] for n in hook.received] == [1, 2, 3, 4, 5]  # in order, once each
    assert len({n["id"] for n in hook.received}) == 5


async def _a_ticket(store: TicketStore) -> Any:
    return await store.create(NewTicket(kind="manual", title="x"), by="t", at=time.time())
