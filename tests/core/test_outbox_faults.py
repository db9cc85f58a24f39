"""The outbox under faults: slow and hung relays, a day-long outage, workers that die.

Each test is bounded (a deadline on every wait) and stays on loopback; two workers on
one database are two ``Database`` objects, as two processes would have.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from core.outbox import (
    OutboundRecord,
    OutboxWorker,
    enqueue,
    is_claimed,
    list_messages,
    record_from_row,
    retry_dead,
)
from core.storage.database import Database
from core.storage.models import OutboxMessage

DEADLINE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def until(condition: Callable[[], Any], timeout: float = DEADLINE) -> None:
    """Wait for ``condition()`` (sync or async) to hold; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, "condition not met before the deadline"
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def same_database(db: Database) -> AsyncIterator[Database]:
    """A second connection pool on the test's database: another process's view of it."""
    other = Database(db.url)
    try:
        yield other
    finally:
        await other.dispose()


@contextlib.asynccontextmanager
async def running(*workers: OutboxWorker) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(worker.run_forever(poll_seconds=0.1)) for worker in workers]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
                    .all())


async def queue(db: Database, channel: str, recipients: list[str],
                now: datetime | None = None) -> list[int]:
    async with db.transaction() as session:
        messages = [enqueue(session, channel, recipient, {"n": index}, now=now)
                    for index, recipient in enumerate(recipients)]
        await session.flush()
        return [message.id for message in messages]


async def all_sent(db: Database) -> bool:
    return all(row.status == "sent" for row in await rows(db))


# -- a slow relay, two workers --------------------------------------------------------------

class SlowSink:
    """A real SMTP server that takes ``seconds`` to accept each message."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.outbox_ids: Counter[str] = Counter()
        self.server: asyncio.Server | None = None

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        await asyncio.sleep(self.seconds)  # the slow relay itself, not a synchronisation
        for line in (envelope.original_content or b"").splitlines():
            if line.lower().startswith(b"x-outbox-id:"):
                self.outbox_ids[line.split(b":", 1)[1].strip().decode()] += 1
        return "250 OK"

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: SMTP(self, hostname="relay.test"),
                                               host="127.0.0.1", port=0)
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


def smtp_deliverer(port: int, delivered_by: Counter[str], name: str
                   ) -> Callable[[OutboundRecord], Any]:
    async def deliver(record: OutboundRecord) -> None:
        message = EmailMessage()
        message["From"], message["To"] = "data@localhost", record.recipient
        message["Subject"], message["X-Outbox-Id"] = "reply", str(record.id)
        message.set_content("hello")
        await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=10)
        delivered_by[name] += 1

    return deliver


async def test_a_slow_relay_with_two_workers_delivers_each_message_once(db: Database) -> None:
    sink = SlowSink(seconds=1.5)  # each delivery outlasts the 1 s lease
    port = await sink.start()
    ids = await queue(db, "mail", [f"c{index}@example.org" for index in range(10)])
    delivered_by: Counter[str] = Counter()
    lease = timedelta(seconds=1)
    try:
        async with same_database(db) as other:
            first = OutboxWorker(db, {"mail": smtp_deliverer(port, delivered_by, "first")},
                                 lease=lease, batch=3)
            second = OutboxWorker(other, {"mail": smtp_deliverer(port, delivered_by, "second")},
                                  lease=lease, batch=3)
            async with running(first, second):
                await until(lambda: all_sent(db))
    finally:
        await sink.stop()
    assert sink.outbox_ids == Counter({str(outbox_id): 1 for outbox_id in ids})
    assert set(delivered_by) == {"first", "second"}  # both really worked on the queue


async def test_a_delivery_slower_than_the_lease_is_not_taken_by_another_worker(
        db: Database) -> None:
    await queue(db, "mail", ["ada@example.org"])
    calls: list[str] = []

    def slow(name: str) -> Callable[[OutboundRecord], Any]:
        async def deliver(record: OutboundRecord) -> None:
            calls.append(name)
            await asyncio.sleep(3)  # the slow delivery itself

        return deliver

    lease = timedelta(seconds=1)
    async with same_database(db) as other:
        first = OutboxWorker(db, {"mail": slow("first")}, lease=lease)
        second = OutboxWorker(other, {"mail": slow("second")}, lease=lease)
        delivery = asyncio.create_task(first.run_once())
        await until(lambda: calls)
        while not delivery.done():  # three lease lengths of the other worker trying
            assert await second.run_once() == 0
            await asyncio.sleep(0.1)
        assert await delivery == 1
    assert calls == ["first"]


async def test_a_crashed_workers_message_is_taken_after_its_lease(db: Database) -> None:
    await queue(db, "mail", ["ada@example.org"])
    delivered: list[int] = []

    async def deliver(record: OutboundRecord) -> None:
        delivered.append(record.id)

    lease = timedelta(seconds=1)
    crashed = OutboxWorker(db, {"mail": deliver}, lease=lease)
    [claimed] = await crashed._claim(10, None)  # claimed, then the process dies: no heartbeat
    async with same_database(db) as other:
        survivor = OutboxWorker(other, {"mail": deliver}, lease=lease)
        assert await survivor.run_once() == 0  # still leased
        started = time.monotonic()

        async def taken() -> bool:
            return await survivor.run_once() == 1

        await until(taken, timeout=5)
    assert delivered == [claimed.id]
    assert time.monotonic() - started < 5


# -- a hung relay, Slack replies waiting ------------------------------------------------------

async def test_a_hung_relay_never_delays_slack_replies(db: Database) -> None:
    never = asyncio.Event()
    mail_started: list[int] = []
    slack_delivered: dict[str, float] = {}

    async def hung_mail(record: OutboundRecord) -> None:
        mail_started.append(record.id)
        await never.wait()

    async def slack(record: OutboundRecord) -> None:
        slack_delivered[record.recipient] = time.monotonic()

    await queue(db, "mail", [f"c{index}@example.org" for index in range(5)])
    worker = OutboxWorker(db, {"mail": hung_mail, "slack": slack})
    async with running(worker):
        await until(lambda: mail_started)  # the relay has swallowed the first e-mail
        for user in ("U1", "U2", "U3"):
            queued = time.monotonic()
            await queue(db, "slack", [user])
            worker.wakeup.set()
            await until(lambda user=user: user in slack_delivered, timeout=3)
            assert slack_delivered[user] - queued < 3
        assert len(mail_started) == 1  # still hung: only the timeout will free it
    assert [row.status for row in await rows(db)] == ["sending"] * 5 + ["sent"] * 3


async def test_a_hung_delivery_times_out_into_a_retry_and_the_channel_moves_on(
        db: Database) -> None:
    never = asyncio.Event()
    started: list[str] = []

    async def hung_mail(record: OutboundRecord) -> None:
        started.append(record.recipient)
        await never.wait()

    await queue(db, "mail", ["ada@example.org", "grace@example.org"])
    worker = OutboxWorker(db, {"mail": hung_mail}, delivery_timeout=timedelta(seconds=0.2))
    async with running(worker):
        await until(lambda: len(started) == 2)

        async def both_rescheduled() -> bool:
            return [row.status for row in await rows(db)] == ["pending", "pending"]

        await until(both_rescheduled)
    for row in await rows(db):
        assert "longer than 0.2s" in (row.last_error or "")
        assert row.next_attempt_at.replace(tzinfo=UTC) > datetime.now(UTC)  # backed off


# -- a 24-hour relay outage on a fake clock ---------------------------------------------------

async def test_a_day_long_relay_outage_delays_and_loses_nothing(db: Database) -> None:
    clock = Clock()
    start = clock.now
    outage = timedelta(hours=24)
    recipients = ["ada", "grace", "ada", "linus", "grace", "ada"]
    ids = await queue(db, "mail", recipients, now=start)
    sent: list[tuple[str, int]] = []
    attempts: Counter[int] = Counter()

    async def relay(record: OutboundRecord) -> None:
        attempts[record.id] += 1
        if clock.now < start + outage:
            raise ConnectionError("relay unreachable")
        sent.append((record.recipient, record.id))

    worker = OutboxWorker(db, {"mail": relay}, clock=clock)
    while clock.now < start + outage + timedelta(hours=5) and len(sent) < len(ids):
        await worker.run_once()
        clock.now += timedelta(minutes=5)
    assert [row.status for row in await rows(db)] == ["sent"] * len(ids)
    assert sorted(outbox_id for _recipient, outbox_id in sent) == ids
    for recipient in set(recipients):  # each recipient's messages in the order written
        mine = [outbox_id for name, outbox_id in sent if name == recipient]
        assert mine == sorted(mine)
    # Backed off (not hammering the relay every 5 minutes: 288 tries), and no later
    # than one capped step (4 h) after the relay came back.
    assert max(attempts.values()) <= 13
    assert clock.now <= start + outage + timedelta(hours=4, minutes=10)


# -- giving up, listing, retrying --------------------------------------------------------------

async def test_failing_past_give_up_after_is_dead_listed_and_retryable(db: Database) -> None:
    clock = Clock()
    start = clock.now
    [outbox_id] = await queue(db, "mail", ["ada@example.org"], now=start)
    relay_up = False

    async def relay(record: OutboundRecord) -> None:
        if not relay_up:
            raise ConnectionError("relay unreachable")

    worker = OutboxWorker(db, {"mail": relay}, clock=clock, give_up_after=timedelta(days=5))
    while clock.now < start + timedelta(days=4, hours=20):
        await worker.run_once()
        clock.now += timedelta(hours=1)
    [row] = await rows(db)
    assert row.status == "pending"  # four days of failing is still worth retrying
    while clock.now < start + timedelta(days=5, hours=5):
        await worker.run_once()
        clock.now += timedelta(hours=1)
    [dead] = await list_messages(db, status="dead")
    assert (dead.id, dead.channel, dead.recipient) == (outbox_id, "mail", "ada@example.org")
    assert dead.attempts > 1 and "relay unreachable" in (dead.last_error or "")
    assert await list_messages(db, status="pending") == []

    assert await retry_dead(db, now=clock.now) == 1
    [entry] = await list_messages(db)
    assert (entry.status, entry.attempts) == ("pending", 0)
    assert f"after {dead.attempts} attempt(s)" in (entry.last_error or "")
    relay_up = True
    assert await worker.run_once() == 1
    assert [row.status for row in await rows(db)] == ["sent"]
    assert await retry_dead(db) == 0


async def test_a_retried_message_gets_a_fresh_lifetime(db: Database) -> None:
    clock = Clock()
    [first, second] = await queue(db, "mail", ["ada@example.org", "grace@example.org"],
                                  now=clock.now)

    async def relay(record: OutboundRecord) -> None:
        raise ConnectionError("relay unreachable")

    worker = OutboxWorker(db, {"mail": relay}, clock=clock, give_up_after=timedelta(hours=1))
    for _ in range(3):
        await worker.run_once()
        clock.now += timedelta(hours=1)
    assert [e.id for e in await list_messages(db, status="dead")] == [first, second]
    assert await retry_dead(db, [second], now=clock.now) == 1
    await worker.run_once()  # fails again, but an hour has not passed since the retry
    assert [(e.id, e.status) for e in await list_messages(db)] == [(first, "dead"),
                                                                   (second, "pending")]


# -- direct delivery -----------------------------------------------------------------------------

async def test_a_message_claimed_on_enqueue_is_delivered_once_by_its_writer(
        db: Database) -> None:
    delivered: list[tuple[str, int]] = []

    def deliverer(name: str) -> Callable[[OutboundRecord], Any]:
        async def deliver(record: OutboundRecord) -> None:
            delivered.append((name, record.id))

        return deliver

    async with db.transaction() as session:
        row = enqueue(session, "slack", "U1", {"text": "hi"}, claim_for=timedelta(seconds=30))
        await session.flush()
        assert is_claimed(row)
        record = record_from_row(row)
    assert record.attempts == 1
    writer = OutboxWorker(db, {"slack": deliverer("writer")})
    async with same_database(db) as other:
        assert await OutboxWorker(other, {"slack": deliverer("other")}).run_once() == 0
    assert await writer.deliver_claimed([record]) == 1
    assert delivered == [("writer", record.id)]
    [stored] = await rows(db)
    assert (stored.status, stored.attempts) == ("sent", 1)


async def test_a_message_behind_a_waiting_one_is_not_claimed(db: Database) -> None:
    async with db.transaction() as session:
        waiting = enqueue(session, "slack", "U1", {"n": 1})
        await session.flush()
    async with db.transaction() as session:
        behind = enqueue(session, "slack", "U1", {"n": 2}, claim_for=timedelta(seconds=30))
        elsewhere = enqueue(session, "slack", "U2", {"n": 3}, claim_for=timedelta(seconds=30))
        also_behind = enqueue(session, "slack", "U2", {"n": 4},
                              claim_for=timedelta(seconds=30))
        await session.flush()
        assert not is_claimed(waiting) and not is_claimed(behind)
        assert is_claimed(elsewhere) and not is_claimed(also_behind)
        unflushed = enqueue(session, "slack", "U3", {"n": 5}, claim_for=timedelta(seconds=30))
        with pytest.raises(RuntimeError):
            is_claimed(unflushed)
    assert [(row.status, row.attempts) for row in await rows(db)] == [
        ("pending", 0), ("pending", 0), ("sending", 1), ("pending", 0), ("sending", 1)]


class Watched(OutboxWorker):
    """Counts the channel loops' rounds, so a test knows a loop has gone back to waiting."""

    rounds = 0

    async def _drain(self, channel: str) -> None:
        await super()._drain(channel)
        self.rounds += 1


async def test_after_a_direct_delivery_the_message_behind_it_goes_promptly(
        db: Database) -> None:
    sent: list[int] = []

    async def deliver(record: OutboundRecord) -> None:
        sent.append(record.payload["n"])

    async with db.transaction() as session:
        first = enqueue(session, "slack", "U1", {"n": 1}, claim_for=timedelta(seconds=30))
        second = enqueue(session, "slack", "U1", {"n": 2}, claim_for=timedelta(seconds=30))
        await session.flush()
        assert is_claimed(first) and not is_claimed(second)
        record = record_from_row(first)
    worker = Watched(db, {"slack": deliver})
    task = asyncio.create_task(worker.run_forever(poll_seconds=60))  # no help from polling
    try:
        await until(lambda: worker.rounds >= 1)  # looked, found "2" blocked, now waits
        assert sent == []
        assert await worker.deliver_claimed([record]) == 1
        await until(lambda: sent == [1, 2], timeout=3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_run_forever_stops_even_when_a_deliverer_swallows_the_cancellation(
        db: Database) -> None:
    """As ``asyncio.wait_for`` can on Python 3.11: shutdown must still end."""
    started = asyncio.Event()

    async def stubborn(record: OutboundRecord) -> None:
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    await queue(db, "mail", ["ada@example.org", "grace@example.org"])
    task = asyncio.create_task(OutboxWorker(db, {"mail": stubborn}).run_forever())
    async with asyncio.timeout(DEADLINE):
        await started.wait()
    task.cancel()
    done, _pending = await asyncio.wait({task}, timeout=5)
    assert done == {task}
