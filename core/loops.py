"""Loop guard: the core decides when a reply would only feed a loop, never a person.

A robot that does not say it is one (no ``Auto-Submitted``), or two robots answering
each other, send the same words again and again and never move the conversation. A
person writing one answer at a time does move it, and a person who writes something
different each time (a question for the reviewers, another try at a field) says
something new. So a reply *answers nothing new* when its turn made no progress (no
answer stored or changed, no phase change, no submission, no card) **and** what came in
repeats something the same sender wrote within the window (case, spacing and numbers
aside, so "ticket #41 received" repeats "ticket #40 received"). Only those replies are
capped: past ``limit`` of them to one recipient within ``window``, the next is recorded
as ``suppressed`` (never sent, listed as suppressed). A reply to a message that made
progress or said something new is always sent.

The rule is the same for every channel: an adapter hands in what it heard
(``heard_in``), the turn's ``progressed`` (``TurnOutcome.progressed``) and its limit;
the facts each decision used are kept on the reply's outbox row (``payload["guard"]``),
so the next decision reads them back and a listing can say why a reply was held back.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.conversation import ConversationState, Inbound
from core.storage.models import OutboxMessage

SUPPRESSED = "suppressed"  # an outbox status: decided not to send, on record
GUARD = "guard"  # the payload key holding the facts of the decision
LOOK_BACK_ROWS = 200  # more replies than this to one address in one window: a loop anyway
_NUMBERS = re.compile(r"\d+")


def heard_in(event: Inbound) -> str:
    """A fingerprint of what came in: its words (case, spacing, numbers aside) and card."""
    words = _NUMBERS.sub("#", " ".join(event.text.casefold().split()))
    card = hashlib.sha256(event.file.data).hexdigest() if event.file is not None else ""
    return hashlib.sha256(f"{words}\0{card}".encode()).hexdigest()[:32]


def _progress_of(state: ConversationState | dict[str, Any] | None) -> tuple[Any, ...]:
    """What changes when a turn moves the conversation forward (a stored dict is read
    as the conversation reads it, so an older shape compares the same)."""
    if not isinstance(state, ConversationState):
        state = ConversationState.model_validate(state or {})
    return (state.answers, state.card_url, state.card_from_location, state.phase,
            state.submission_id, state.card)


def made_progress(before: ConversationState | dict[str, Any] | None,
                  after: ConversationState | dict[str, Any] | None) -> bool:
    """Whether a turn stored or changed an answer, a card, the phase or a submission."""
    return _progress_of(before) != _progress_of(after)


async def hold_back(session: AsyncSession, *, outbox_id: int, heard: str, progressed: bool,
                    limit: int, window: timedelta, now: datetime) -> bool:
    """Decide about the queued reply ``outbox_id``; True when it must not be sent.

    Records the facts on the row either way. ``limit <= 0`` turns the cap off.
    """
    row = await session.get(OutboxMessage, outbox_id)
    if row is None:
        return False
    earlier = list((await session.execute(
        select(OutboxMessage.payload[GUARD], OutboxMessage.status).where(
            OutboxMessage.channel == row.channel, OutboxMessage.recipient == row.recipient,
            OutboxMessage.id != row.id, OutboxMessage.created_at >= now - window)
        .order_by(OutboxMessage.id.desc()).limit(LOOK_BACK_ROWS))).all())
    facts = [(dict(guard) if isinstance(guard, dict) else {}, status)
             for guard, status in earlier]
    new = progressed or all(fact.get("heard") != heard for fact, _ in facts)
    repeats_sent = sum(1 for fact, status in facts
                       if fact and not fact.get("new", True) and status != SUPPRESSED)
    suppress = not new and limit > 0 and repeats_sent >= limit
    row.payload = {**row.payload, GUARD: {"heard": heard, "new": new,
                                          "repeats_sent": repeats_sent, "limit": limit}}
    return suppress


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
