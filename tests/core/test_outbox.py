"""The outbox delivers at least once, retries failures with backoff, and gives up visibly.

Faults (slow and hung relays, outages, several workers) are in ``test_outbox_faults.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core.outbox import (
    FORGET,
    OutboundRecord,
    OutboxWorker,
    PermanentFailure,
    RetryLater,
    backoff,
    enqueue,
    is_claimed,
)
from core.storage.database import Database
from core.storage.models import OutboxMessage


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def _queue(db: Database, count: int = 1) -> None:
    async with db.transaction() as session:
        for index in range(count):
            enqueue(session, "test", f"r{index}", {"n": index})


async def _rows(db: Database) -> list[OutboxMessage]:
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
                    .all())


async def test_delivers_in_order_once(db: Database) -> None:
    await _queue(db, 3)
    seen: list[int] = []

    async def deliver(record: OutboundRecord) -> None:
        seen.append(record.payload["n"])

    worker = OutboxWorker(db, {"test": deliver})
    assert await worker.run_once() == 3
    assert await worker.run_once() == 0
    assert seen == [0, 1, 2]
    assert {row.status for row in await _rows(db)} == {"sent"}


async def test_failure_is_retried_after_backoff(db: Database) -> None:
    await _queue(db)
    clock = Clock()
    calls: list[int] = []

    async def flaky(record: OutboundRecord) -> None:
        calls.append(record.attempts)
        if len(calls) == 1:
            raise ConnectionError("relay down")

    worker = OutboxWorker(db, {"test": flaky}, clock=clock)
    assert await worker.run_once() == 0
    [row] = await _rows(db)
    assert row.status == "pending" and "relay down" in row.last_error
    assert await worker.run_once() == 0  # not due yet
    clock.now += timedelta(seconds=59)
    assert await worker.run_once() == 0  # the first retry waits a minute
    clock.now += timedelta(seconds=2)
    assert await worker.run_once() == 1
    assert calls == [1, 2]


def test_the_retry_schedule_grows_from_a_minute_to_hours_like_an_mta() -> None:
    minutes = [backoff(attempt) / timedelta(minutes=1) for attempt in range(1, 11)]
    assert minutes == [1, 5, 15, 30, 60, 120, 240, 240, 240, 240]


async def test_retry_later_waits_as_told(db: Database) -> None:
    await _queue(db)
    clock = Clock()

    async def rate_limited(record: OutboundRecord) -> None:
        if record.attempts == 1:
            raise RetryLater(30)

    worker = OutboxWorker(db, {"test": rate_limited}, clock=clock)
    await worker.run_once()
    clock.now += timedelta(seconds=29)
    assert await worker.run_once() == 0
    clock.now += timedelta(seconds=2)
    assert await worker.run_once() == 1


async def test_a_permanent_failure_is_dead_at_once_a_failing_relay_is_not(
        db: Database) -> None:
    await _queue(db, 2)
    clock = Clock()

    async def refuse(record: OutboundRecord) -> None:
        if record.recipient == "r0":
            raise PermanentFailure("no such user")
        raise ConnectionError("down")

    worker = OutboxWorker(db, {"test": refuse}, clock=clock)
    for _ in range(12):  # what once made a message dead after 17 minutes
        await worker.run_once()
        clock.now += timedelta(minutes=20)
    dead, waiting = await _rows(db)
    assert dead.status == "dead" and "no such user" in (dead.last_error or "")
    assert waiting.status == "pending" and waiting.attempts < 12  # backed off, still queued


async def test_max_attempts_still_caps_when_given(db: Database) -> None:
    """Deprecated, but a caller that passes it still gets what it asked for."""
    await _queue(db)
    clock = Clock()

    async def down(record: OutboundRecord) -> None:
        raise ConnectionError("down")

    worker = OutboxWorker(db, {"test": down}, clock=clock, max_attempts=3)
    for _ in range(4):
        await worker.run_once()
        clock.now += timedelta(hours=5)
    [row] = await _rows(db)
    assert (row.status, row.attempts) == ("dead", 3)


async def test_enqueue_takes_the_callers_clock(db: Database) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with db.transaction() as session:
        row = enqueue(session, "test", "ada", {}, now=when)
        await session.flush()
        assert not is_claimed(row)
    [stored] = await _rows(db)
    assert stored.created_at.replace(tzinfo=UTC) == when
    assert stored.next_attempt_at.replace(tzinfo=UTC) == when


async def test_a_crash_mid_delivery_redelivers_after_the_lease(db: Database) -> None:
    await _queue(db)
    clock = Clock()
    worker = OutboxWorker(db, {"test": lambda record: None}, clock=clock)
    claimed = await worker._claim(10, None)  # claimed, then the process "dies"
    assert len(claimed) == 1
    delivered: list[int] = []

    async def deliver(record: OutboundRecord) -> None:
        delivered.append(record.id)

    restarted = OutboxWorker(db, {"test": deliver}, clock=clock)
    assert await restarted.run_once() == 0  # still leased
    clock.now += timedelta(minutes=2)
    assert await restarted.run_once() == 1
    assert delivered == [claimed[0].id]


async def test_channels_without_a_deliverer_wait(db: Database) -> None:
    async with db.transaction() as session:
        enqueue(session, "review", "review", {"kind": "review.open"})

    async def deliver(record: OutboundRecord) -> None:
        raise AssertionError("not for this worker")

    assert await OutboxWorker(db, {"test": deliver}).run_once() == 0
    [row] = await _rows(db)
    assert row.status == "pending"


async def test_a_recipients_messages_keep_their_order(db: Database) -> None:
    async with db.transaction() as session:
        for text in ("first", "second"):
            enqueue(session, "test", "ada", {"text": text})
        enqueue(session, "test", "grace", {"text": "other"})
    clock = Clock()
    sent: list[str] = []

    async def deliver(record: OutboundRecord) -> None:
        if record.payload["text"] == "first" and record.attempts == 1:
            raise RetryLater(10)
        sent.append(record.payload["text"])

    worker = OutboxWorker(db, {"test": deliver}, clock=clock)
    await worker.run_once()
    assert sent == ["other"]  # "second" waits behind "first"; others are not held up
    clock.now += timedelta(seconds=11)
    await worker.run_once()
    await worker.run_once()
    assert sent == ["other", "first", "second"]


async def test_a_secret_is_delivered_once_then_forgotten_and_kept_while_retried(
        db: Database) -> None:
    """A confirmation token or sign-in link reaches the deliverer, even on a retry; once
    sent, the row keeps everything else and the secret is gone."""
    async with db.transaction() as session:
        enqueue(session, "test", "ada", {"text": "reply confirm", "confirm": "v1secret",
                                         FORGET: ["confirm"],
                                         "mail": {"token": "v1secret", "subject": "Re: x",
                                                  FORGET: ["token"]}})
    seen: list[dict[str, object]] = []

    async def deliver(record: OutboundRecord) -> None:
        seen.append(record.payload)
        if len(seen) == 1:
            raise RuntimeError("relay down")

    clock = Clock()
    worker = OutboxWorker(db, {"test": deliver}, clock=clock)
    await worker.run_once()
    assert (await _rows(db))[0].payload["confirm"] == "v1secret"  # still needed: retried
    clock.now += timedelta(hours=1)
    assert await worker.run_once() == 1
    assert [p["confirm"] for p in seen] == ["v1secret", "v1secret"]
    [row] = await _rows(db)
    assert row.status == "sent"
    assert row.payload == {"text": "reply confirm", "confirm": None,
                           "mail": {"token": None, "subject": "Re: x"}}
