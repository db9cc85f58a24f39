"""Loop guard: the core decides when a reply would only feed a loop.

A robot that does not say it is one (no ``Auto-Submitted``), or two robots answering
each other, makes the conversation repeat the same reply. The rule, applied inside the
transaction that queues the reply: when the turn made no progress (no new answer, no
submission) and the last ``limit`` replies to this recipient within ``window`` all said
exactly the same thing, the new one is recorded as ``suppressed`` and never sent. A
reply to a message that made progress is never suppressed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import OutboxMessage

SUPPRESSED = "suppressed"  # an outbox status: decided not to send, on record


def progress_of(state: dict[str, Any] | None) -> tuple[Any, ...]:
    """What changes when a turn moves the conversation forward."""
    state = state or {}
    return (state.get("answers"), state.get("phase"), state.get("submission_id"),
            state.get("card"))


def _said(payload: dict[str, Any]) -> tuple[Any, ...]:
    return (payload.get("parts"), payload.get("choices"), payload.get("reference"))


async def repeats_itself(session: AsyncSession, *, outbox_id: int, progressed: bool,
                         limit: int, window: timedelta, now: datetime) -> bool:
    """Whether the queued reply ``outbox_id`` only repeats what was just sent, again."""
    if progressed or limit <= 0:
        return False
    row = await session.get(OutboxMessage, outbox_id)
    if row is None:
        return False
    earlier = list((await session.scalars(
        select(OutboxMessage.payload).where(
            OutboxMessage.channel == row.channel, OutboxMessage.recipient == row.recipient,
            OutboxMessage.id != row.id, OutboxMessage.status != SUPPRESSED,
            OutboxMessage.created_at >= now - window)
        .order_by(OutboxMessage.id.desc()).limit(limit))).all())
    return len(earlier) >= limit and all(_said(p) == _said(row.payload) for p in earlier)


async def suppress(session: AsyncSession, outbox_id: int, *,
                   claimed_here: bool = False) -> None:
    """Record the reply as suppressed: the outbox never sends it, a listing shows it.

    ``claimed_here``: the row was claimed for direct delivery in this same transaction
    (and the caller drops that claim), so ``sending`` is not someone else's delivery.
    """
    row = await session.get(OutboxMessage, outbox_id)
    if row is not None and (row.status == "pending"
                            or (claimed_here and row.status == "sending")):
        row.status = SUPPRESSED
