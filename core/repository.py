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
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.conversation import ConversationState
from core.storage.models import (
    AuditEntry,
    Base,
    CardVersion,
    Conversation,
    InboundEvent,
    LoggedEvent,
    OutboxMessage,
    ReviewerSignIn,
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


async def annotate_outbox(session: AsyncSession, outbox_id: int, section: str,
                          values: dict[str, Any]) -> None:
    """Add what a channel's delivery needs (``payload[section]``: "mail", "slack") to an
    outbox row of this transaction."""
    row = await session.get(OutboxMessage, outbox_id)
    if row is not None:
        row.payload = {**row.payload, section: {**(row.payload.get(section) or {}), **values}}


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


async def held_event(session: AsyncSession, event_id: int) -> Any:
    """A logged event kept for a confirmation (``core.inbound.StoredEvent``), or None."""
    from core.inbound import stored

    row = await session.get(LoggedEvent, event_id)
    return stored(row) if row is not None else None


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


async def slack_card_version(session: AsyncSession, version_id: int | None
                             ) -> tuple[str, bytes] | None:
    """(filename, content) of a stored card version (a new card, for the review thread)."""
    if version_id is None:
        return None
    card = await session.get(CardVersion, version_id)
    return (card.filename, bytes(card.content)) if card is not None else None


# -- what the review desk in the browser reads (desk/) -----------------------------------

DESK = "desk"


@dataclass(frozen=True)
class DeskLine:
    """One submission as the desk's list shows it."""

    reference: str
    name: str
    status: str
    contributor_id: str
    email: str
    channel: str
    created_at: datetime
    verdict: str | None


async def desk_submissions(session: AsyncSession, *, status: str | None = None,
                           search: str | None = None, limit: int = 200) -> list[DeskLine]:
    """Newest first; ``search`` matches reference, name, contributor or contact e-mail."""
    query = (select(Submission, CardVersion.report)
             .outerjoin(CardVersion, CardVersion.id == Submission.card_version_id)
             .where(Submission.reference.is_not(None))
             .order_by(Submission.id.desc()).limit(limit))
    if status:
        query = query.where(Submission.status == status)
    if search:
        query = query.where(or_(*(column.icontains(search, autoescape=True) for column in (
            Submission.reference, Submission.name, Submission.contributor_id,
            Submission.email))))
    rows = (await session.execute(query)).all()
    return [DeskLine(s.reference or "", s.name, s.status, s.contributor_id, s.email, s.channel,
                     s.created_at, (report or {}).get("verdict")) for s, report in rows]


async def desk_details(session: AsyncSession, reference: str) -> dict[str, Any] | None:
    """A submission with its card versions, audit rows and every message of its
    conversation: to the contributor on their channel (before and after submitting) and
    to the review thread."""
    submission = await session.scalar(
        select(Submission).where(Submission.reference == reference))
    if submission is None:
        return None
    cards = (await session.scalars(select(CardVersion).where(
        CardVersion.submission_id == submission.id).order_by(CardVersion.id))).all()
    history = (await session.scalars(select(AuditEntry).where(
        AuditEntry.submission_id == submission.id).order_by(AuditEntry.id))).all()
    messages = (await session.scalars(select(OutboxMessage).where(or_(
        OutboxMessage.submission_id == submission.id,
        (OutboxMessage.channel == submission.channel)
        & (OutboxMessage.recipient == submission.contributor_id)
        & OutboxMessage.submission_id.is_(None))).order_by(OutboxMessage.id))).all()
    return {"submission": submission, "cards": list(cards), "history": list(history),
            "messages": list(messages)}


async def desk_card(session: AsyncSession, reference: str, version_id: int
                    ) -> tuple[str, bytes] | None:
    """(filename, content) of one card version of this submission (none of another's)."""
    row = (await session.execute(
        select(CardVersion.filename, CardVersion.content)
        .join(Submission, Submission.id == CardVersion.submission_id)
        .where(Submission.reference == reference, CardVersion.id == version_id))).first()
    return (row.filename, bytes(row.content)) if row is not None else None


async def desk_add_sign_in(session: AsyncSession, *, email: str, token_hash: str,
                           now: datetime, expires_at: datetime) -> None:
    session.add(ReviewerSignIn(email=email, token_hash=token_hash, created_at=now,
                               expires_at=expires_at))


async def desk_sign_ins_since(session: AsyncSession, email: str, since: datetime) -> int:
    """How many links were made for this address since ``since`` (a flood of links is not
    sent)."""
    return int(await session.scalar(select(sa_func.count(ReviewerSignIn.id)).where(
        ReviewerSignIn.email == email, ReviewerSignIn.created_at > since)) or 0)


async def desk_sign_in_email(session: AsyncSession, token_hash: str, now: datetime
                             ) -> str | None:
    """The address of a link that is unused and not expired, else None."""
    return await session.scalar(select(ReviewerSignIn.email).where(
        ReviewerSignIn.token_hash == token_hash, ReviewerSignIn.used_at.is_(None),
        ReviewerSignIn.expires_at > now))


async def desk_use_sign_in(session: AsyncSession, token_hash: str, now: datetime
                           ) -> str | None:
    """Spend a link: one conditional UPDATE, so two uses at once sign in one of them."""
    spent = await session.execute(update(ReviewerSignIn).where(
        ReviewerSignIn.token_hash == token_hash, ReviewerSignIn.used_at.is_(None),
        ReviewerSignIn.expires_at > now).values(used_at=now))
    if spent.rowcount != 1:
        return None
    return await session.scalar(select(ReviewerSignIn.email).where(
        ReviewerSignIn.token_hash == token_hash))


@dataclass(frozen=True)
class DeskInbound:
    """One thing the contributor sent on their channel, as it was logged."""

    id: int
    received_at: datetime
    payload: dict[str, Any]
    raw: bytes | None
    status: str


async def desk_inbound(session: AsyncSession, channel: str, contributor_id: str,
                       limit: int = 100) -> list[DeskInbound]:
    """What the contributor sent on their channel (the inbound log, in order): the other
    half of the conversation."""
    rows = (await session.execute(
        select(LoggedEvent.id, LoggedEvent.received_at, LoggedEvent.payload, LoggedEvent.raw,
               LoggedEvent.status)
        .where(LoggedEvent.channel == channel,
               sa_func.lower(LoggedEvent.order_key) == contributor_id.lower())
        .order_by(LoggedEvent.id).limit(limit))).all()
    return [DeskInbound(r.id, r.received_at, dict(r.payload or {}), r.raw, r.status)
            for r in rows]
