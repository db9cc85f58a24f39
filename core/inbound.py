"""The inbound log: every inbound event, stored before it is acknowledged.

Adapters call ``InboundLog.append`` with the event exactly as it arrived and its
channel's idempotency key (an e-mail's Message-ID, a Slack ``event_id`` or action id);
only after it returns do they answer ``250`` or HTTP 200. Appends that arrive together
are written in one transaction (a group commit), so a burst costs one commit, not one
per event. The worker (``core.worker``) claims what is pending and processes each event
once, in id order per ``order_key``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    TextClause,
    and_,
    bindparam,
    func,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.logs import event as log_event
from core.metrics import Metrics
from core.storage.database import Database
from core.storage.models import LoggedEvent, utcnow

log = logging.getLogger(__name__)

PENDING, DONE, POISONED = "pending", "done", "poisoned"
KEY_LENGTH = 512
ORDER_KEY_LENGTH = 320
ROWS_PER_INSERT = 200  # 7 parameters a row: well inside SQLite's 32,766


@dataclass(frozen=True)
class NewEvent:
    """What an adapter hands the log: the raw event and the keys that place it."""

    channel: str
    idempotency_key: str
    order_key: str
    payload: dict[str, Any] = field(default_factory=dict)
    raw: bytes | None = None


@dataclass(frozen=True)
class Appended:
    """The log's answer: the row id, and whether the key had been logged before."""

    id: int | None
    duplicate: bool


@dataclass(frozen=True)
class StoredEvent:
    """A detached copy of a logged event, handed to a channel's ``translate``."""

    id: int
    channel: str
    idempotency_key: str
    order_key: str
    payload: dict[str, Any]
    raw: bytes | None
    attempts: int
    received_at: datetime


@dataclass(frozen=True)
class EventLine:
    """One row of a listing (``intake`` commands, tests): no payload."""

    id: int
    channel: str
    order_key: str
    status: str
    attempts: int
    outcome: str | None
    error: str | None
    received_at: datetime


def stored(row: LoggedEvent) -> StoredEvent:
    return StoredEvent(row.id, row.channel, row.idempotency_key, row.order_key,
                       dict(row.payload or {}), row.raw, row.attempts, row.received_at)


class InboundLog:
    """Appends (grouped into shared commits), claims, and the operator's view."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow,
                 metrics: Metrics | None = None) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics or Metrics()
        self.listeners: list[Callable[[int, NewEvent], None]] = []
        self._queue: list[tuple[NewEvent, asyncio.Future[Appended]]] = []
        self._writer: asyncio.Task[None] | None = None

    # -- appending ----------------------------------------------------------------------

    async def append(self, event: NewEvent) -> Appended:
        """Store one event durably; returns once it is committed (or was there already).

        Raises whatever the database raised: the adapter then refuses the event
        (``451``, HTTP 500) so its sender tries again; nothing half-stored is kept.
        """
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        self._queue.append((event, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="inbound-log")
        try:
            appended = await future
        except Exception:
            self.metrics.inbound.labels(event.channel, "refused").inc()
            raise
        self.metrics.inbound.labels(event.channel,
                                    "duplicate" if appended.duplicate else "logged").inc()
        log_event(log, "event logged", channel=event.channel, event=appended.id,
                  duplicate=appended.duplicate or None, size=len(event.raw or b"") or None)
        if not appended.duplicate and appended.id is not None:
            for listener in self.listeners:
                listener(appended.id, event)
        return appended

    async def _write_batches(self) -> None:
        """Write what is queued in one transaction; what arrived meanwhile, in the next."""
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._write(batch)
            except Exception:  # noqa: BLE001 - retried one by one below
                log.exception("could not store %d inbound event(s)", len(batch))
                if len(batch) == 1:
                    _fail(batch[0][1])
                    continue
                for single in batch:  # one bad event must not refuse the others
                    try:
                        results = await self._write([single])
                    except Exception:  # noqa: BLE001 - that one is refused
                        _fail(single[1])
                    else:
                        _resolve(single[1], results[0])
                continue
            for (_event, future), result in zip(batch, results, strict=True):
                _resolve(future, result)

    async def _write(self, batch: list[tuple[NewEvent, asyncio.Future[Appended]]]
                     ) -> list[Appended]:
        """One multi-row INSERT per chunk (ON CONFLICT DO NOTHING), then one SELECT for the
        keys that were there already: a burst costs two statements, not one per event."""
        now = self.clock()
        results: list[Appended] = []
        async with self.db.transaction(urgent=True) as session:
            for start in range(0, len(batch), ROWS_PER_INSERT):
                chunk = [event for event, _future in batch[start:start + ROWS_PER_INSERT]]
                results += await _insert_chunk(session, chunk, now)
        return results

    async def close(self) -> None:
        """Let queued appends finish (their senders are waiting for the answer)."""
        if self._writer is not None:
            with contextlib.suppress(Exception):
                await self._writer

    # -- claiming -----------------------------------------------------------------------

    def _eligible(self, now: datetime, owner: str | None = None) -> Any:
        """Pending, and first of its order key with no live lease, or leased to ``owner``
        already (a claim whose in-memory copy this worker dropped: taken up again)."""
        earlier = aliased(LoggedEvent)
        blocked = (select(earlier.id)
                   .where(earlier.order_key == LoggedEvent.order_key,
                          earlier.id < LoggedEvent.id, earlier.status == PENDING)
                   .exists())
        free = or_(LoggedEvent.lease_until.is_(None), LoggedEvent.lease_until <= now)
        first = and_(free, ~blocked)
        mine = or_(first, LoggedEvent.lease_owner == owner) if owner is not None else first
        return and_(LoggedEvent.status == PENDING, mine)

    async def claim(self, owner: str, lease: timedelta, limit: int = 50,
                    channels: list[str] | None = None) -> list[StoredEvent]:
        """Lease up to ``limit`` events (one transaction).

        A claim is not an attempt: an event may wait in a claimed batch through a crash
        without being at fault. ``started`` counts the attempt when its turn comes.
        """
        now = self.clock()
        async with self.db.transaction() as session:
            query = (select(LoggedEvent).where(self._eligible(now, owner))
                     .order_by(LoggedEvent.id).limit(limit))
            if channels is not None:
                query = query.where(LoggedEvent.channel.in_(channels))
            if not self.db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            rows = (await session.scalars(query)).all()
            for row in rows:
                row.lease_owner = owner
                row.lease_until = now + lease
            return [stored(row) for row in rows]

    async def started(self, event_id: int, owner: str, lease: timedelta) -> bool:
        """A claimed event's processing begins: count the attempt, renew the lease.

        Committed before the work, so an event that kills the worker every time is
        counted every time (and set aside by ``poison_stale``). False: not ours any more.
        """
        async with self.db.transaction() as session:
            result = await session.execute(
                update(LoggedEvent).where(LoggedEvent.id == event_id,
                                          LoggedEvent.status == PENDING,
                                          LoggedEvent.lease_owner == owner)
                .values(attempts=LoggedEvent.attempts + 1,
                        lease_until=self.clock() + lease)
                .execution_options(synchronize_session=False))
            return bool(result.rowcount)

    async def take(self, session: AsyncSession, event_id: int, owner: str) -> bool:
        """Lock one event inside the caller's transaction, if it is this worker's to do.

        It is: leased by ``owner``, or (an event handed over in memory right after its
        append, never claimed) held by nobody and first in line for its order key. Plain
        SQL: this runs once per event, and the ORM's statement building cost more than
        the query.
        """
        found = await session.execute(
            _TAKE_SKIP_LOCKED if not self.db.is_sqlite else _TAKE,
            {"id": event_id, "owner": owner, "now": self.clock()})
        return found.first() is not None

    async def finish(self, session: AsyncSession, event_id: int, outcome: str) -> None:
        """Mark an event processed (inside its transaction)."""
        await session.execute(_FINISH, {"id": event_id, "outcome": outcome[:64],
                                        "now": self.clock()})

    async def failed(self, event_id: int, error: BaseException, *, poison_after: int,
                     retry_in: timedelta, owner: str) -> str:
        """Record a failed attempt; past ``poison_after`` attempts it is set aside."""
        now = self.clock()
        async with self.db.transaction() as session:
            row = await session.get(LoggedEvent, event_id)
            if row is None or row.status != PENDING:
                return row.status if row is not None else "missing"
            live = row.lease_until is not None and _aware(row.lease_until) > now
            if row.lease_owner not in (None, owner) and live:
                return row.status  # someone else holds it now: their attempt, not ours
            if row.lease_owner != owner:
                row.attempts += 1  # handed over, never claimed: this attempt was not counted
            row.error = repr(error)[:2000]
            if row.attempts >= poison_after:
                row.status = POISONED
                row.lease_owner = None
                row.lease_until = None
                log.error("inbound event %s (%s) set aside after %d attempts: %r",
                          event_id, row.channel, row.attempts, error)
            else:
                row.lease_owner = None
                row.lease_until = now + retry_in
            return row.status

    async def poison_stale(self, poison_after: int) -> int:
        """Set aside events whose leases ran out ``poison_after`` times (crash loops)."""
        now = self.clock()
        async with self.db.transaction() as session:
            result = await session.execute(
                update(LoggedEvent).where(
                    LoggedEvent.status == PENDING, LoggedEvent.attempts >= poison_after,
                    LoggedEvent.lease_until.is_not(None), LoggedEvent.lease_until <= now,
                    LoggedEvent.lease_owner.is_not(None))
                .values(status=POISONED, lease_owner=None, lease_until=None,
                        error=func.coalesce(LoggedEvent.error,
                                            "the worker stopped while processing it")))
            return int(result.rowcount or 0)

    # -- the operator's view --------------------------------------------------------------

    async def lines(self, status: str | None = None, limit: int = 100) -> list[EventLine]:
        async with self.db.transaction() as session:
            query = select(LoggedEvent.id, LoggedEvent.channel, LoggedEvent.order_key,
                           LoggedEvent.status, LoggedEvent.attempts, LoggedEvent.outcome,
                           LoggedEvent.error, LoggedEvent.received_at)
            if status is not None:
                query = query.where(LoggedEvent.status == status)
            rows = (await session.execute(query.order_by(LoggedEvent.id).limit(limit))).all()
        return [EventLine(*row) for row in rows]

    async def counts(self) -> dict[str, int]:
        async with self.db.transaction() as session:
            rows = (await session.execute(select(LoggedEvent.status, func.count())
                                          .group_by(LoggedEvent.status))).all()
        return {status: count for status, count in rows}

    async def retry(self, ids: list[int] | None = None) -> int:
        """Put poisoned events (all, or these) back in line with a fresh attempt count."""
        async with self.db.transaction() as session:
            query = update(LoggedEvent).where(LoggedEvent.status == POISONED)
            if ids is not None:
                query = query.where(LoggedEvent.id.in_(ids))
            result = await session.execute(query.values(
                status=PENDING, attempts=0, lease_owner=None, lease_until=None))
            return int(result.rowcount or 0)


_TAKE_SQL = """
SELECT id FROM inbound_log
WHERE id = :id AND status = 'pending'
  AND (lease_owner = :owner
       OR ((lease_until IS NULL OR lease_until <= :now)
           AND NOT EXISTS (SELECT 1 FROM inbound_log AS earlier
                           WHERE earlier.order_key = inbound_log.order_key
                             AND earlier.id < inbound_log.id
                             AND earlier.status = 'pending')))
"""
_TAKE = text(_TAKE_SQL).bindparams(bindparam("now", type_=DateTime(timezone=True)))
_TAKE_SKIP_LOCKED = text(_TAKE_SQL + " FOR UPDATE SKIP LOCKED").bindparams(
    bindparam("now", type_=DateTime(timezone=True)))
_FINISH = text(
    "UPDATE inbound_log SET status = 'done', outcome = :outcome, processed_at = :now, "
    "lease_owner = NULL, lease_until = NULL, error = NULL WHERE id = :id"
).bindparams(bindparam("now", type_=DateTime(timezone=True)))


_INSERTED = ("channel", "idempotency_key", "order_key", "payload", "raw", "size",
             "received_at")


@functools.lru_cache(maxsize=ROWS_PER_INSERT)
def _insert_rows(count: int) -> TextClause:
    """``INSERT ... VALUES (...), (...) ON CONFLICT DO NOTHING RETURNING`` for ``count``
    rows, built once per size (SQLite 3.35+ and PostgreSQL both speak it)."""
    names = ", ".join(_INSERTED)
    rows = ", ".join("(" + ", ".join(f":{column}_{index}" for column in _INSERTED)
                     + ", 'pending', 0)" for index in range(count))
    columns = LoggedEvent.__table__.c
    return text(
        f"INSERT INTO inbound_log ({names}, status, attempts) VALUES {rows} "
        "ON CONFLICT (channel, idempotency_key) DO NOTHING "
        "RETURNING id, channel, idempotency_key"
    ).bindparams(*(bindparam(f"{column}_{index}", type_=columns[column].type)
                   for index in range(count) for column in _INSERTED))


async def _insert_chunk(session: AsyncSession, events: list[NewEvent], now: datetime
                        ) -> list[Appended]:
    """Store what is new; a key logged before (a retry) or twice here is a duplicate."""
    params: dict[str, Any] = {}
    keys = [(event.channel, event.idempotency_key[:KEY_LENGTH]) for event in events]
    for index, (event, (channel, key)) in enumerate(zip(events, keys, strict=True)):
        params.update({f"channel_{index}": channel, f"idempotency_key_{index}": key,
                       f"order_key_{index}": event.order_key[:ORDER_KEY_LENGTH],
                       f"payload_{index}": event.payload, f"raw_{index}": event.raw,
                       f"size_{index}": len(event.raw or b""), f"received_at_{index}": now})
    rows = (await session.execute(_insert_rows(len(events)), params)).all()
    new = {(channel, key): int(row_id) for row_id, channel, key in rows}
    before = {pair for pair in keys if pair not in new}
    existing: dict[tuple[str, str], int] = {}
    if before:
        found = await session.execute(
            select(LoggedEvent.id, LoggedEvent.channel, LoggedEvent.idempotency_key)
            .where(tuple_(LoggedEvent.channel, LoggedEvent.idempotency_key).in_(before)))
        existing = {(channel, key): int(row_id) for row_id, channel, key in found}
    results: list[Appended] = []
    for pair in keys:
        if pair in new:
            row_id = existing[pair] = new.pop(pair)  # the same key again here: a duplicate
            results.append(Appended(row_id, duplicate=False))
        else:
            results.append(Appended(existing.get(pair), duplicate=True))
    return results


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _resolve(future: asyncio.Future[Appended], result: Appended) -> None:
    if not future.done():
        future.set_result(result)


def _fail(future: asyncio.Future[Appended]) -> None:
    if not future.done():
        future.set_exception(LogUnavailable("the inbound log could not store the event"))


class LogUnavailable(Exception):
    """The event was not stored: refuse it so the sender retries."""
