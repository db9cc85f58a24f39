"""Reads and writes on core tables the Slack adapter needs until ``core`` offers them.

Each function here is a stand-in for a small core API (listed in the hand-over note):
the adapter should not know the table layout. They only read, except
``enqueue_once``, which records an inbound id and queues messages atomically, the way
``IntakeService.handle`` does for a turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from core.conversation import ConversationState
from core.fields import FIELD_ORDER
from core.outbox import enqueue
from core.service import ConversationKey
from core.storage.database import Database
from core.storage.models import (
    CardVersion,
    Conversation,
    InboundEvent,
    OutboxMessage,
    Submission,
)

SOURCE = "slack"
CHANNEL = "slack"


@dataclass(frozen=True)
class SubmissionLine:
    reference: str
    name: str
    status: str
    updated_at: datetime


@dataclass(frozen=True)
class Draft:
    answered: int
    total: int


async def seen(db: Database, external_id: str) -> bool:
    """Was this Slack id (event id, click, form) already processed?"""
    async with db.transaction() as session:
        found = await session.scalar(select(InboundEvent.id).where(
            InboundEvent.source == SOURCE, InboundEvent.external_id == external_id[:998]))
    return found is not None


async def enqueue_once(db: Database, external_id: str, recipient: str,
                       payloads: list[dict[str, Any]]) -> bool:
    """Record ``external_id`` and queue ``payloads`` in one transaction; False if seen before."""
    try:
        async with db.transaction() as session:
            exists = await session.scalar(select(InboundEvent.id).where(
                InboundEvent.source == SOURCE, InboundEvent.external_id == external_id[:998]))
            if exists is not None:
                return False
            session.add(InboundEvent(source=SOURCE, external_id=external_id[:998]))
            for payload in payloads:
                enqueue(session, CHANNEL, recipient, payload)
            await session.flush()
    except IntegrityError:
        return False  # a concurrent delivery of the same id won
    return True


async def conversation_state(db: Database, key: ConversationKey) -> ConversationState | None:
    """The stored state of a contributor's conversation, or None if they never wrote."""
    async with db.transaction() as session:
        state = await session.scalar(select(Conversation.state).where(
            Conversation.channel == key.channel,
            Conversation.contributor_id == key.contributor_id))
    return None if state is None else ConversationState.model_validate(state or {})


async def newer_reply_exists(db: Database, user_id: str, outbox_id: int) -> bool:
    """Did the core say something to this user after message ``outbox_id``?

    Then the question in that message was superseded (answered by typing, or asked
    again), and its buttons must not act any more. Messages the adapter queues itself
    (updates, the home tab) carry a ``kind`` and do not count.
    """
    async with db.transaction() as session:
        found = await session.scalar(
            select(OutboxMessage.id).where(
                OutboxMessage.channel == CHANNEL, OutboxMessage.recipient == user_id,
                OutboxMessage.id > outbox_id,
                OutboxMessage.payload["kind"].as_string().is_(None)).limit(1))
    return found is not None


async def submissions_of(db: Database, key: ConversationKey,
                         limit: int = 25) -> list[SubmissionLine]:
    async with db.transaction() as session:
        rows = (await session.execute(
            select(Submission.reference, Submission.name, Submission.status,
                   Submission.updated_at)
            .where(Submission.channel == key.channel,
                   Submission.contributor_id == key.contributor_id)
            .order_by(Submission.id.desc()).limit(limit))).all()
    return [SubmissionLine(r.reference or "", r.name, r.status, r.updated_at) for r in rows]


def draft_of(state: ConversationState | None) -> Draft | None:
    """How far a draft in progress is, for the home tab."""
    if state is None or state.phase not in ("collecting", "confirming"):
        return None
    answered = sum(1 for field in FIELD_ORDER if field in state.answers)
    return Draft(answered, len(FIELD_ORDER))


async def outbox_counts(db: Database) -> dict[str, int]:
    """Slack outbox messages by status, for /metrics."""
    async with db.transaction() as session:
        rows = (await session.execute(
            select(OutboxMessage.status, func.count()).where(OutboxMessage.channel == CHANNEL)
            .group_by(OutboxMessage.status))).all()
    return {status: count for status, count in rows}


@dataclass(frozen=True)
class StoredCard:
    filename: str
    content: bytes


async def card_version(db: Database, version_id: int | None) -> StoredCard | None:
    """A stored card version (a contributor's new card, for the review thread)."""
    if version_id is None:
        return None
    async with db.transaction() as session:
        version = await session.get(CardVersion, version_id)
        return StoredCard(version.filename, bytes(version.content)) if version else None
