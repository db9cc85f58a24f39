"""The core's storage contract for adapters: what they may read and write of core tables.

Adapters never import ``core.storage.models``; they call these functions with the
session of the transaction they run in (the inbound worker's, one per event), so a
read and the writes that follow it commit together. Each adapter has its own section.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func as sa_func
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.conversation import ConversationState
from core.storage.models import (
    AuditEntry,
    Base,
    CardVersion,
    Conversation,
    InboundEvent,
    OutboxMessage,
    Submission,
    utcnow,
)

WAITING = ("pending", "sending")  # outbox rows not delivered yet


# -- what the mail adapter reads ---------------------------------------------------------

# The adapter's own tables (mail/models.py) join the core's metadata, so one set of
# migrations covers both; they take the base class and the clock from here.
MAIL_TABLE_BASE = Base


def mail_now() -> datetime:
    """The time the adapter's rows are stamped with."""
    return utcnow()


async def mail_conversation_state(session: AsyncSession, contributor_id: str) -> dict[str, Any]:
    """An e-mail conversation's saved state ({} when there is none yet)."""
    state = await session.scalar(select(Conversation.state).where(
        Conversation.channel == "mail", Conversation.contributor_id == contributor_id))
    return dict(state or {})


async def mail_submission_email(session: AsyncSession, submission_id: int) -> str | None:
    """The contact address a submission was made with (it speaks for the submission)."""
    return await session.scalar(select(Submission.email).where(Submission.id == submission_id))


async def mail_submission_by_token(session: AsyncSession, token: str
                                   ) -> tuple[int, str | None, str] | None:
    """(id, reference, contributor) of the e-mail submission whose reply token this is."""
    row = (await session.execute(
        select(Submission.id, Submission.reference, Submission.contributor_id).where(
            Submission.reply_token == token, Submission.channel == "mail"))).first()
    return (row.id, row.reference, row.contributor_id) if row else None


async def mail_submission_reference(session: AsyncSession, submission_id: int) -> str | None:
    return await session.scalar(select(Submission.reference).where(
        Submission.id == submission_id))


async def mail_submission_id(session: AsyncSession, reference: str) -> int | None:
    return await session.scalar(select(Submission.id).where(Submission.reference == reference))


async def mail_submission_token(session: AsyncSession, reference: str,
                                contributor_id: str) -> str | None:
    """The reply token of a contributor's e-mail submission."""
    return await session.scalar(select(Submission.reply_token).where(
        Submission.reference == reference, Submission.channel == "mail",
        Submission.contributor_id == contributor_id))


async def mail_annotate_outbox(session: AsyncSession, outbox_id: int,
                               delivery: dict[str, Any]) -> None:
    """Add what delivery needs (``payload["mail"]``) to an outbox row of this transaction."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is not None:
        row.payload = {**row.payload, "mail": {**(row.payload.get("mail") or {}), **delivery}}


async def mail_review_waiting_before(session: AsyncSession, submission_id: int | None,
                                     outbox_id: int) -> bool:
    """Whether an earlier e-mail of a review thread is still waiting (the thread's order)."""
    found = await session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.channel == "review", OutboxMessage.submission_id == submission_id,
        OutboxMessage.id < outbox_id, OutboxMessage.status.in_(WAITING)).limit(1))
    return found is not None


async def mail_card(session: AsyncSession, card_version_id: int) -> tuple[str, bytes] | None:
    """(filename, content) of a stored card version, to attach to a reviewers' e-mail."""
    card = await session.get(CardVersion, card_version_id)
    return (card.filename, card.content) if card is not None else None


async def mail_audited(session: AsyncSession, *, submission_id: int, actor: str,
                       action: str) -> bool:
    """Whether this person already has an audit row of this kind on the submission."""
    return await session.scalar(select(AuditEntry.id).where(
        AuditEntry.submission_id == submission_id, AuditEntry.actor == actor,
        AuditEntry.action == action).limit(1)) is not None


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
