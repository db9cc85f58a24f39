"""The core's storage contract for adapters: what they may read and write of core tables.

Adapters never import ``core.storage.models``; they call these functions with the
session of the transaction they run in (the inbound worker's, one per event), so a
read and the writes that follow it commit together. Each adapter has its own section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func as sa_func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.conversation import ConversationState
from core.storage.models import (
    CardVersion,
    Conversation,
    InboundEvent,
    OutboxMessage,
    Submission,
)

# -- what the Slack adapter reads ------------------------------------------------------

SLACK = "slack"


@dataclass(frozen=True)
class SlackSubmissionLine:
    """One of a Slack user's submissions, as the App Home lists it."""

    reference: str
    name: str
    status: str
    updated_at: datetime


async def slack_conversation_state(session: AsyncSession, user_id: str
                                   ) -> ConversationState | None:
    """A Slack user's saved conversation, or None if they never wrote."""
    state = await session.scalar(select(Conversation.state).where(
        Conversation.channel == SLACK, Conversation.contributor_id == user_id))
    return None if state is None else ConversationState.model_validate(state or {})


async def slack_first_time(session: AsyncSession, external_id: str) -> bool:
    """Record ``external_id`` (a clicked question) in this transaction; False if it was
    recorded before: a question is answered once, however often its buttons are clicked."""
    key = external_id[:998]
    if await session.scalar(select(InboundEvent.id).where(
            InboundEvent.source == SLACK, InboundEvent.external_id == key)) is not None:
        return False
    session.add(InboundEvent(source=SLACK, external_id=key))
    await session.flush()
    return True


async def slack_newer_reply_exists(session: AsyncSession, user_id: str,
                                   outbox_id: int) -> bool:
    """Did the core say something to this user after message ``outbox_id``? Then the
    question in that message was superseded. The adapter's own messages (updates, the
    home tab) carry a ``kind`` and do not count."""
    found = await session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.channel == SLACK, OutboxMessage.recipient == user_id,
        OutboxMessage.id > outbox_id,
        OutboxMessage.payload["kind"].as_string().is_(None)).limit(1))
    return found is not None


async def slack_submissions_of(session: AsyncSession, user_id: str,
                               limit: int = 25) -> list[SlackSubmissionLine]:
    rows = (await session.execute(
        select(Submission.reference, Submission.name, Submission.status,
               Submission.updated_at)
        .where(Submission.channel == SLACK, Submission.contributor_id == user_id)
        .order_by(Submission.id.desc()).limit(limit))).all()
    return [SlackSubmissionLine(r.reference or "", r.name, r.status, r.updated_at)
            for r in rows]


async def slack_outbox_counts(session: AsyncSession) -> dict[str, int]:
    """Slack outbox messages by status, for /metrics."""
    rows = (await session.execute(
        select(OutboxMessage.status, sa_func.count()).where(OutboxMessage.channel == SLACK)
        .group_by(OutboxMessage.status))).all()
    return {status: count for status, count in rows}


async def slack_card_version(session: AsyncSession, version_id: int | None
                             ) -> tuple[str, bytes] | None:
    """(filename, content) of a stored card version (a new card, for the review thread)."""
    if version_id is None:
        return None
    card = await session.get(CardVersion, version_id)
    return (card.filename, bytes(card.content)) if card is not None else None
