"""The outbox: messages written with the change that caused them, delivered by a worker.

Delivery is at least once, and in order per recipient: a message is claimed with a
lease, delivered, then marked sent; a recipient's later messages wait for it. The lease
is renewed while the delivery runs (a heartbeat), so a slow relay never makes a second
worker take the same message; a worker that died stops renewing, and its messages are
taken again once the lease runs out.

Each channel is delivered by its own loop, so a hung relay delays e-mail, never Slack,
and one delivery that hangs is cut off by a timeout and retried. Failures are retried
on a schedule like an MTA's (a minute, then longer, up to hours) for days
(``give_up_after``); only then, or on a ``PermanentFailure``, is a message ``dead``,
where an operator can list it and put it back (``list_messages``, ``retry_dead``).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, event, or_, select, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, aliased

from core.logs import event as log_event
from core.metrics import Metrics
from core.storage.database import Database
from core.storage.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=60)
DELIVERY_TIMEOUT = timedelta(seconds=120)
GIVE_UP_AFTER = timedelta(days=5)
# After the n-th failed attempt, wait RETRY_SCHEDULE[n-1]; the last step repeats.
RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=30),
    timedelta(hours=1), timedelta(hours=2), timedelta(hours=4))
WAITING = ("pending", "sending")
_MIN_RETRY = timedelta(seconds=1)  # a RetryLater(0) must not make a loop spin
_ENQUEUED = "core.outbox.enqueued"  # session.info key: this session's messages, in order


class RetryLater(Exception):  # noqa: N818 - it is an instruction, not an error
    """Raised by a deliverer that knows when to try again (e.g. HTTP 429 Retry-After)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds}s")
        self.seconds = seconds


class PermanentFailure(Exception):
    """Raised by a deliverer when retrying cannot help (e.g. a refused recipient)."""


class DeliveryTimedOut(Exception):
    """A delivery ran past the worker's ``delivery_timeout``: retried like any failure."""


@dataclass(frozen=True)
class OutboundRecord:
    """What a deliverer gets: a detached copy of the row.

    ``attempts`` also identifies the claim: the worker only finishes or renews a row
    whose attempts still match, so a worker whose lease was lost cannot undo another's.
    ``queued_at`` is when the message entered the queue; giving up counts from it.
    """

    id: int
    channel: str
    recipient: str
    submission_id: int | None
    payload: dict[str, Any]
    attempts: int
    queued_at: datetime | None = None


@dataclass(frozen=True)
class OutboxEntry:
    """One outbox message as an operator sees it (``list_messages``)."""

    id: int
    channel: str
    recipient: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_error: str | None


Deliverer = Callable[[OutboundRecord], Awaitable[None]]


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


FORGET = "forget_after_sending"  # in any dict of a payload: its keys that hold secrets


def forget_secrets(node: Any) -> Any:
    """The payload with the values its dicts list under ``FORGET`` set to None.

    A confirmation token or a sign-in link must reach its mailbox, then stop existing:
    only its hash stays (``confirmations``, ``desk_sign_ins``). The row itself stays as
    the record of what was sent.
    """
    if isinstance(node, dict):
        secret = set(node.get(FORGET) or ())
        return {key: None if key in secret else forget_secrets(value)
                for key, value in node.items() if key != FORGET}
    if isinstance(node, list):
        return [forget_secrets(value) for value in node]
    return node


def record_from_row(row: OutboxMessage) -> OutboundRecord:
    """The deliverer's copy of a flushed row (e.g. one ``enqueue(claim_for=...)`` claimed)."""
    return OutboundRecord(row.id, row.channel, row.recipient, row.submission_id,
                          dict(row.payload), row.attempts,
                          _aware(row.requeued_at or row.created_at))


def enqueue(session: AsyncSession, channel: str, recipient: str, payload: dict[str, Any],
            submission_id: int | None = None, *, claim_for: timedelta | None = None,
            now: datetime | None = None) -> OutboxMessage:
    """Add a message to the outbox inside the caller's transaction.

    With ``claim_for``, the row is written already claimed (``sending``, attempt 1,
    leased for ``claim_for``) unless an earlier message to the same recipient on the same
    channel is still waiting, so the caller can deliver it right after its commit
    (``OutboxWorker.deliver_claimed``) without a claim transaction of its own. The check
    runs in this session when it flushes; ``is_claimed(row)`` tells the outcome after it.
    On PostgreSQL the check cannot see another transaction's uncommitted messages: the
    caller serialises a conversation's turns (as the inbound worker does).
    """
    now = now or utcnow()
    message = OutboxMessage(channel=channel, recipient=recipient, payload=payload,
                            submission_id=submission_id, status="pending", attempts=0,
                            next_attempt_at=now, created_at=now, requeued_at=None)
    session.add(message)
    sync_session: Session = getattr(session, "sync_session", session)
    enqueued: list[tuple[OutboxMessage, datetime | None]] | None = sync_session.info.get(
        _ENQUEUED)
    if enqueued is None:
        enqueued = sync_session.info[_ENQUEUED] = []
        event.listen(sync_session, "before_flush", _decide_claims)
    enqueued.append((message, now + claim_for if claim_for is not None else None))
    return message


def _decide_claims(session: Session, _context: object, _instances: object) -> None:
    """Claim the messages enqueued with ``claim_for`` that nothing earlier holds up.

    Runs inside the flush (in the async session's greenlet), so it may query.
    """
    enqueued = session.info.get(_ENQUEUED) or []
    if not any(lease is not None for _message, lease in enqueued):
        session.info[_ENQUEUED] = []
        return
    earlier = aliased(OutboxMessage)
    seen: list[OutboxMessage] = []
    with session.no_autoflush:
        for message, lease_until in enqueued:
            if lease_until is not None and sa_inspect(message).pending:
                key = (message.channel, message.recipient)
                behind = any((m.channel, m.recipient) == key and m.status in WAITING
                             for m in seen)
                if not behind:
                    behind = session.execute(
                        select(earlier.id).where(earlier.channel == message.channel,
                                                 earlier.recipient == message.recipient,
                                                 earlier.status.in_(WAITING)).limit(1)
                    ).first() is not None
                if not behind:
                    message.status = "sending"
                    message.attempts = 1
                    message.next_attempt_at = lease_until
            seen.append(message)
    session.info[_ENQUEUED] = []


def is_claimed(row: OutboxMessage) -> bool:
    """Whether ``enqueue(claim_for=...)`` claimed this row; ask after the session flushed."""
    if sa_inspect(row).pending:
        raise RuntimeError("flush the session first: the claim is decided when it flushes")
    return row.status == "sending"


def backoff(attempts: int, schedule: Sequence[timedelta] = RETRY_SCHEDULE) -> timedelta:
    """The wait after the ``attempts``-th failure: 1, 5, 15, 30 minutes, 1, 2, then 4 hours."""
    return schedule[min(max(attempts, 1), len(schedule)) - 1]


async def list_messages(db: Database, status: str | None = None,
                        limit: int = 100) -> list[OutboxEntry]:
    """Outbox messages in queue order, e.g. ``status="dead"`` for what needs an operator."""
    query = select(OutboxMessage).order_by(OutboxMessage.id).limit(limit)
    if status is not None:
        query = query.where(OutboxMessage.status == status)
    async with db.transaction() as session:
        rows = (await session.scalars(query)).all()
        return [OutboxEntry(r.id, r.channel, r.recipient, r.status, r.attempts,
                            _aware(r.created_at), _aware(r.next_attempt_at), r.last_error)
                for r in rows]


async def retry_dead(db: Database, ids: list[int] | None = None, *,
                     now: datetime | None = None) -> int:
    """Put dead messages back (all when ``ids`` is None), due now; returns how many.

    A retried message starts afresh: the retry schedule from its first step, and a new
    ``give_up_after`` from now (``requeued_at``). What happened before is kept in
    ``last_error`` (attempts so far and the error that killed it).
    """
    now = now or utcnow()
    query = select(OutboxMessage).where(OutboxMessage.status == "dead")
    if ids is not None:
        if not ids:
            return 0
        query = query.where(OutboxMessage.id.in_(ids))
    async with db.transaction() as session:
        if not db.is_sqlite:
            query = query.with_for_update()
        rows = (await session.scalars(query)).all()
        for row in rows:
            row.last_error = (f"retried by an operator after {row.attempts} attempt(s); "
                              f"before: {row.last_error}")[:2000]
            row.status, row.attempts = "pending", 0
            row.next_attempt_at, row.requeued_at = now, now
        return len(rows)


class Wakeup:
    """Event-like: ``set()`` wakes every channel's loop, so a producer needs no channel."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def channel(self, name: str) -> asyncio.Event:
        return self._events.setdefault(name, asyncio.Event())

    def set(self) -> None:
        for wake in self._events.values():
            wake.set()

    def is_set(self) -> bool:
        return any(wake.is_set() for wake in self._events.values())

    def clear(self) -> None:
        for wake in self._events.values():
            wake.clear()


class OutboxWorker:
    """Delivers due messages for the channels it has deliverers for.

    ``lease``: how long a claim holds without renewal (renewed every third of it while
    a delivery runs); ``delivery_timeout``: one delivery's limit; ``give_up_after``: how
    long a message may keep failing before it is dead (build code passes
    ``Settings.outbox_give_up_after``); ``batch``: messages claimed per round trip by
    ``run_forever``. ``max_attempts`` is deprecated: time decides now; when given it
    still caps the attempts.
    """

    def __init__(self, db: Database, deliverers: dict[str, Deliverer], *,
                 clock: Callable[[], datetime] = utcnow, max_attempts: int | None = None,
                 lease: timedelta = LEASE, delivery_timeout: timedelta = DELIVERY_TIMEOUT,
                 give_up_after: timedelta = GIVE_UP_AFTER,
                 schedule: Sequence[timedelta] = RETRY_SCHEDULE, batch: int = 10,
                 metrics: Metrics | None = None) -> None:
        self.db = db
        self.metrics = metrics or Metrics()
        self.deliverers = deliverers
        self.clock = clock
        self.max_attempts = max_attempts
        self.lease = lease
        self.delivery_timeout = delivery_timeout
        self.give_up_after = give_up_after
        self.schedule = tuple(schedule)
        self.batch = batch
        self.wakeup = Wakeup()
        self._sent: list[tuple[OutboundRecord, asyncio.Future[bool]]] = []
        self._marker: asyncio.Task[None] | None = None

    # -- claiming and finishing --------------------------------------------------------------

    async def _claim(self, limit: int, recipient: str | None,
                     channels: Sequence[str] | None = None) -> list[OutboundRecord]:
        now = self.clock()
        earlier = aliased(OutboxMessage)
        # One recipient's messages go out in order: none while an earlier one still waits.
        blocked = (select(earlier.id)
                   .where(earlier.channel == OutboxMessage.channel,
                          earlier.recipient == OutboxMessage.recipient,
                          earlier.id < OutboxMessage.id,
                          earlier.status.in_(WAITING))
                   .exists())
        wanted = list(self.deliverers) if channels is None else list(channels)
        async with self.db.transaction() as session:
            # A 'sending' row is due again only when its lease ran out (its worker died).
            query = (select(OutboxMessage)
                     .where(OutboxMessage.channel.in_(wanted),
                            OutboxMessage.status.in_(WAITING),
                            OutboxMessage.next_attempt_at <= now, ~blocked)
                     .order_by(OutboxMessage.id).limit(limit))
            if recipient is not None:
                query = query.where(OutboxMessage.recipient == recipient)
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.scalars(query)).all()
            for row in rows:
                row.status = "sending"
                row.attempts += 1
                row.next_attempt_at = now + self.lease
            return [record_from_row(row) for row in rows]

    def _ours(self, record: OutboundRecord) -> Any:
        """The row as this worker claimed it: still sending, same claim (attempts)."""
        return and_(OutboxMessage.id == record.id, OutboxMessage.status == "sending",
                    OutboxMessage.attempts == record.attempts)

    async def _mark_sent(self, record: OutboundRecord) -> None:
        """Record a delivery; deliveries that finish together share one transaction."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._sent.append((record, future))
        if self._marker is None or self._marker.done():
            self._marker = asyncio.create_task(self._write_sent())
        delivered = await future
        self.metrics.deliveries.labels(record.channel, "delivered" if delivered else "lost").inc()
        if not delivered:
            log.warning("outbox #%d: lease lost before it was finished (sent); another "
                        "worker has it", record.id)
        else:
            log_event(log, "delivered", channel=record.channel, outbox=record.id,
                      attempt=record.attempts)

    async def _write_sent(self) -> None:
        while self._sent:
            batch, self._sent = self._sent, []
            try:
                async with self.db.transaction() as session:
                    result = await session.execute(
                        update(OutboxMessage).where(or_(*(self._ours(r) for r, _f in batch)))
                        .values(status="sent", sent_at=self.clock(), last_error=None)
                        .returning(OutboxMessage.id)
                        .execution_options(synchronize_session=False))
                    marked = set(result.scalars().all())
                    for record, _future in batch:
                        kept = forget_secrets(record.payload)
                        if record.id in marked and kept != record.payload:
                            await session.execute(
                                update(OutboxMessage).where(OutboxMessage.id == record.id)
                                .values(payload=kept)
                                .execution_options(synchronize_session=False))
            except Exception as error:  # noqa: BLE001 - each waiter hears of it
                for _record, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for record, future in batch:
                if not future.done():
                    future.set_result(record.id in marked)

    async def _finish(self, record: OutboundRecord, error: BaseException | None) -> None:
        if error is None:
            await self._mark_sent(record)
            return
        now = self.clock()
        values: dict[str, Any]
        async with self.db.transaction() as session:
            if error is None:
                values = {"status": "sent", "sent_at": now, "last_error": None}
            else:
                queued_at = record.queued_at or await self._queued_at(session, record.id)
                failing_for = now - _aware(queued_at) if queued_at else timedelta(0)
                if (isinstance(error, PermanentFailure) or failing_for >= self.give_up_after
                        or (self.max_attempts is not None
                            and record.attempts >= self.max_attempts)):
                    values = {"status": "dead", "last_error": repr(error)[:2000]}
                    self.metrics.deliveries.labels(record.channel, "dead").inc()
                    log.warning("outbox %s to %s (#%d) is dead after %d attempt(s): %r",
                                record.channel, record.recipient, record.id,
                                record.attempts, error)
                else:
                    delay = (max(timedelta(seconds=error.seconds), _MIN_RETRY)
                             if isinstance(error, RetryLater)
                             else backoff(record.attempts, self.schedule))
                    values = {"status": "pending", "next_attempt_at": now + delay,
                              "last_error": repr(error)[:2000]}
                    self.metrics.deliveries.labels(record.channel, "retry").inc()
                    log_event(log, "delivery failed, will retry", logging.WARNING,
                              channel=record.channel, outbox=record.id,
                              attempt=record.attempts, retry_in=str(delay),
                              error=type(error).__name__)
            result = await session.execute(update(OutboxMessage).where(self._ours(record))
                                           .values(**values)
                                           .execution_options(synchronize_session=False))
        if not getattr(result, "rowcount", 1):
            log.warning("outbox #%d: lease lost before it was finished (%s); another worker "
                        "has it", record.id, values["status"])

    async def _queued_at(self, session: AsyncSession, outbox_id: int) -> datetime | None:
        row = (await session.execute(select(OutboxMessage.created_at, OutboxMessage.requeued_at)
                                     .where(OutboxMessage.id == outbox_id))).first()
        return None if row is None else (row.requeued_at or row.created_at)

    async def _release(self, record: OutboundRecord) -> None:
        """Hand back a claim this worker cannot deliver (no deliverer for its channel)."""
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage).where(self._ours(record))
                                  .values(status="pending", attempts=record.attempts - 1,
                                          next_attempt_at=self.clock())
                                  .execution_options(synchronize_session=False))

    # -- the heartbeat -----------------------------------------------------------------------

    async def _renew(self, held: dict[int, int]) -> set[int]:
        """Push the leases of ``held`` (id -> attempts) forward; returns the ids renewed."""
        ours = or_(*(and_(OutboxMessage.id == outbox_id, OutboxMessage.attempts == attempts)
                     for outbox_id, attempts in held.items()))
        async with self.db.transaction() as session:
            result = await session.execute(
                update(OutboxMessage).where(OutboxMessage.status == "sending", ours)
                .values(next_attempt_at=self.clock() + self.lease)
                .returning(OutboxMessage.id).execution_options(synchronize_session=False))
            return set(result.scalars().all())

    async def _heartbeat(self, held: dict[int, int], lost: set[int]) -> None:
        """Keep the claims in ``held`` while they wait or are being delivered."""
        interval = max(self.lease.total_seconds() / 3, 0.01)
        while True:
            await asyncio.sleep(interval)
            snapshot = dict(held)
            if not snapshot:
                continue
            try:
                renewed = await self._renew(snapshot)
            except Exception as error:  # noqa: BLE001 - the next beat tries again
                log.warning("outbox: could not renew leases: %r", error)
                continue
            lost.update(set(snapshot) - renewed)

    # -- delivering ----------------------------------------------------------------------------

    async def _attempt(self, record: OutboundRecord) -> BaseException | None:
        """One delivery, cut off after ``delivery_timeout``; returns what went wrong."""
        seconds = self.delivery_timeout.total_seconds()
        try:
            async with asyncio.timeout(seconds) as limit:
                with self.metrics.delivery_seconds.labels(record.channel).time():
                    outcome = self.deliverers[record.channel](record)
                    if inspect.isawaitable(outcome):
                        await outcome
        except TimeoutError as error:
            if limit.expired():
                return DeliveryTimedOut(f"delivery took longer than {seconds:g}s")
            return error
        except Exception as error:  # noqa: BLE001 - every failure is a retry path
            return error
        return None

    async def _deliver(self, records: list[OutboundRecord]) -> int:
        """Deliver claimed records one by one under a heartbeat; returns how many went out."""
        held = {record.id: record.attempts for record in records}
        lost: set[int] = set()
        heartbeat = asyncio.create_task(self._heartbeat(held, lost))
        delivered = 0
        try:
            for record in records:
                self._stop_if_cancelled()
                if record.id in lost:
                    held.pop(record.id, None)
                    log.warning("outbox #%d: lease lost before delivery; skipped", record.id)
                    continue
                if record.channel not in self.deliverers:
                    await self._release(record)
                    held.pop(record.id, None)
                    continue
                error = await self._attempt(record)
                await self._finish(record, error)
                held.pop(record.id, None)
                delivered += error is None
        finally:
            heartbeat.cancel()
            await asyncio.wait({heartbeat})  # never swallows a cancellation of our own
        return delivered

    @staticmethod
    def _stop_if_cancelled() -> None:
        """Honour a cancellation something below swallowed (``asyncio.wait_for`` on 3.11
        can, e.g. in a deliverer's client): a loop that keeps going never lets shutdown end.
        """
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

    async def run_once(self, limit: int = 50, recipient: str | None = None,
                       channel: str | None = None) -> int:
        """Deliver what is due now; returns how many were delivered.

        A delivered message may unblock the next one for its recipient, so claim again
        until a round delivers nothing.
        """
        channels = None if channel is None else [channel]
        delivered = 0
        while True:
            records = await self._claim(limit, recipient, channels)
            round_delivered = await self._deliver(records) if records else 0
            delivered += round_delivered
            if round_delivered == 0:
                return delivered
            self._stop_if_cancelled()

    async def deliver_claimed(self, records: Sequence[OutboundRecord]) -> int:
        """Deliver rows the caller claimed itself (``enqueue(claim_for=...)``), after its commit.

        Same heartbeat, timeout and retry rules as the loops; then the channels' loops are
        woken, since a message behind one of these for its recipient may go now.
        """
        if not records:
            return 0
        try:
            return await self._deliver(list(records))
        finally:
            for channel in {record.channel for record in records}:
                self.wakeup.channel(channel).set()

    async def _drain(self, channel: str) -> None:
        """Claim and deliver a channel's due messages, batch after batch."""
        while True:
            records = await self._claim(self.batch, None, [channel])
            if not records:
                return
            delivered = await self._deliver(records)
            self._stop_if_cancelled()
            if delivered == 0 and len(records) < self.batch:
                return  # what failed is rescheduled; nothing new was unblocked

    async def _channel_loop(self, channel: str, poll_seconds: float) -> None:
        wake = self.wakeup.channel(channel)
        while True:
            wake.clear()
            try:
                await self._drain(channel)
            except Exception:  # noqa: BLE001 - e.g. the database is down: poll again
                log.exception("outbox %s: delivery round failed", channel)
            self._stop_if_cancelled()
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_seconds):
                    await wake.wait()

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        """One loop per channel, so a slow or hung channel never delays another.

        ``wakeup.set()`` lets a producer in this process skip the poll wait.
        """
        channels = list(self.deliverers)
        if not channels:
            await asyncio.Event().wait()
        async with asyncio.TaskGroup() as group:
            for channel in channels:
                group.create_task(self._channel_loop(channel, poll_seconds),
                                  name=f"outbox:{channel}")
