"""The outbox: messages written with the change that caused them, delivered by a worker.

Delivery is at least once, and in order per recipient: a message is claimed with a
lease, delivered, then marked sent; a recipient's later messages wait for it. A crash
between delivery and marking delivers it again after the lease; an outage is retried
with backoff; a message that keeps failing is marked ``dead`` for an operator to list.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from core.storage.database import Database
from core.storage.models import OutboxMessage, utcnow

LEASE = timedelta(seconds=60)


class RetryLater(Exception):  # noqa: N818 - it is an instruction, not an error
    """Raised by a deliverer that knows when to try again (e.g. HTTP 429 Retry-After)."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        super().__init__(reason or f"retry in {seconds}s")
        self.seconds = seconds


class PermanentFailure(Exception):
    """Raised by a deliverer when retrying cannot help (e.g. a refused recipient)."""


@dataclass(frozen=True)
class OutboundRecord:
    """What a deliverer gets: a detached copy of the row."""

    id: int
    channel: str
    recipient: str
    submission_id: int | None
    payload: dict[str, Any]
    attempts: int


Deliverer = Callable[[OutboundRecord], Awaitable[None]]


def enqueue(session: AsyncSession, channel: str, recipient: str, payload: dict[str, Any],
            submission_id: int | None = None) -> OutboxMessage:
    """Add a message to the outbox inside the caller's transaction."""
    message = OutboxMessage(channel=channel, recipient=recipient, payload=payload,
                            submission_id=submission_id, status="pending",
                            next_attempt_at=utcnow())
    session.add(message)
    return message


def backoff(attempts: int) -> timedelta:
    """2, 4, 8 ... seconds, capped at 15 minutes."""
    return timedelta(seconds=min(2 ** attempts, 900))


class OutboxWorker:
    """Delivers due messages for the channels it has deliverers for."""

    def __init__(self, db: Database, deliverers: dict[str, Deliverer], *,
                 clock: Callable[[], datetime] = utcnow, max_attempts: int = 10) -> None:
        self.db = db
        self.deliverers = deliverers
        self.clock = clock
        self.max_attempts = max_attempts
        self.wakeup = asyncio.Event()

    async def _claim(self, limit: int, recipient: str | None) -> list[OutboundRecord]:
        now = self.clock()
        earlier = aliased(OutboxMessage)
        waiting = or_(OutboxMessage.status == "pending", OutboxMessage.status == "sending")
        # One recipient's messages go out in order: none while an earlier one still waits.
        blocked = (select(earlier.id)
                   .where(earlier.channel == OutboxMessage.channel,
                          earlier.recipient == OutboxMessage.recipient,
                          earlier.id < OutboxMessage.id,
                          or_(earlier.status == "pending", earlier.status == "sending"))
                   .exists())
        async with self.db.transaction() as session:
            query = (select(OutboxMessage)
                     .where(OutboxMessage.channel.in_(list(self.deliverers)), waiting,
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
                row.next_attempt_at = now + LEASE
            return [OutboundRecord(r.id, r.channel, r.recipient, r.submission_id,
                                   dict(r.payload), r.attempts) for r in rows]

    async def _finish(self, record: OutboundRecord, error: BaseException | None) -> None:
        now = self.clock()
        values: dict[str, Any]
        if error is None:
            values = {"status": "sent", "sent_at": now, "last_error": None}
        elif isinstance(error, PermanentFailure) or record.attempts >= self.max_attempts:
            values = {"status": "dead", "last_error": repr(error)[:2000]}
        else:
            delay = (timedelta(seconds=error.seconds) if isinstance(error, RetryLater)
                     else backoff(record.attempts))
            values = {"status": "pending", "next_attempt_at": now + delay,
                      "last_error": repr(error)[:2000]}
        async with self.db.transaction() as session:
            await session.execute(update(OutboxMessage)
                                  .where(OutboxMessage.id == record.id).values(**values))

    async def run_once(self, limit: int = 50, recipient: str | None = None) -> int:
        """Deliver what is due now; returns how many were delivered.

        A delivered message may unblock the next one for its recipient, so claim again
        until a round delivers nothing.
        """
        delivered = 0
        while True:
            round_delivered = 0
            for record in await self._claim(limit, recipient):
                try:
                    await self.deliverers[record.channel](record)
                except Exception as error:  # noqa: BLE001 - every failure is a retry path
                    await self._finish(record, error)
                else:
                    await self._finish(record, None)
                    round_delivered += 1
            delivered += round_delivered
            if round_delivered == 0:
                return delivered

    async def run_forever(self, poll_seconds: float = 1.0) -> None:
        """Poll for due messages; ``wakeup`` lets a producer in this process skip the wait."""
        while True:
            await self.run_once()
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll_seconds):
                    await self.wakeup.wait()
            self.wakeup.clear()
