"""The e-mail tables, read and written inside the caller's transaction.

Everything here takes the session of the transaction it belongs to: the inbound
worker's (one per accepted e-mail: thread match, the turn, the reply's row) or a
deliverer's (a message of our own that was not a reply). What the adapter needs of the
core's tables it asks ``core.repository`` for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core import repository
from core.conversation import ConversationState
from mail.models import MailThread, OutboundMail
from mail.threads import (
    REVIEW_PREFIX,
    ThreadMatch,
    is_review_tag,
    new_message_id,
    new_review_token,
    new_token,
    review_key,
)


def _insert(session: AsyncSession) -> Any:
    return sqlite_insert if session.bind.dialect.name == "sqlite" else pg_insert


def sender_key(mail_from: str) -> str | None:
    """Messages of one envelope sender are processed in order; a null sender needs none."""
    return mail_from.strip().strip("<>").lower() or None


# -- who a message speaks for -------------------------------------------------------------

async def speakers(session: AsyncSession, match: ThreadMatch) -> set[str]:
    """Addresses that speak for a conversation: its own and the contact e-mail given."""
    addresses = {match.contributor_id.lower()}
    state = await repository.mail_conversation_state(session, match.contributor_id)
    email = ConversationState.model_validate(state).answers.email
    if email:
        addresses.add(email.lower())
    if match.submission_id is not None:
        submitted = await repository.mail_submission_email(session, match.submission_id)
        if submitted:
            addresses.add(submitted.lower())
    return addresses


@dataclass(frozen=True)
class ReviewMatch:
    """The submission whose review thread a message answers."""

    reference: str
    submission_id: int
    by: str = "token"


async def review_match(session: AsyncSession, tags: list[str],
                       message_ids: list[str]) -> ReviewMatch | None:
    """By the review token it was sent to, else by a review e-mail it answers."""
    for tag in dict.fromkeys(t.lower() for t in tags if t and is_review_tag(t)):
        key = await session.scalar(select(MailThread.contributor_id).where(
            MailThread.token == tag, MailThread.contributor_id.startswith(REVIEW_PREFIX)))
        if key:
            return await _review_of(session, key.removeprefix(REVIEW_PREFIX), "token")
    ids = [m for m in dict.fromkeys(message_ids) if len(m) <= 255][:40]
    if not ids:
        return None
    key = await session.scalar(
        select(OutboundMail.recipient).where(OutboundMail.message_id.in_(ids),
                                             OutboundMail.recipient.startswith(REVIEW_PREFIX))
        .order_by(OutboundMail.id.desc()).limit(1))
    return await _review_of(session, key.removeprefix(REVIEW_PREFIX), "thread") if key else None


async def review_match_of(session: AsyncSession, reference: str) -> ReviewMatch | None:
    """The review thread of a submission, as named by its token (a confirmed decision)."""
    return await _review_of(session, reference, "token")


async def _review_of(session: AsyncSession, reference: str, by: str) -> ReviewMatch | None:
    submission_id = await repository.mail_submission_id(session, reference)
    return ReviewMatch(reference, submission_id, by) if submission_id is not None else None


# -- the e-mails we send ------------------------------------------------------------------

async def previous(session: AsyncSession, recipient: str) -> OutboundMail | None:
    """Our last e-mail to this person (or thread key), to thread a new one under."""
    return await session.scalar(select(OutboundMail).where(
        OutboundMail.recipient == recipient, OutboundMail.status != "suppressed")
        .order_by(OutboundMail.id.desc()).limit(1))


async def record_outbound(session: AsyncSession, *, outbox_id: int, recipient: str,
                          contributor_id: str | None, submission_id: int | None,
                          message_id: str, subject: str | None = None,
                          context: dict[str, Any] | None = None) -> None:
    """The row that lets a reply to this e-mail, or a bounce of it, find its way back."""
    await session.execute(_insert(session)(OutboundMail).values(
        outbox_id=outbox_id, recipient=recipient[:320], contributor_id=contributor_id,
        submission_id=submission_id, message_id=message_id, subject=subject,
        context=context or {}, status="queued",
        created_at=repository.mail_now()).on_conflict_do_nothing(index_elements=["outbox_id"]))


async def thread_subject(session: AsyncSession, contributor_id: str,
                         reference: str | None) -> str | None:
    """The subject our first e-mail about this reference answered (``""`` if it had none);
    None before there is one."""
    if reference is None:
        return None
    row = (await session.execute(
        select(OutboundMail.subject).where(
            OutboundMail.recipient == contributor_id,
            OutboundMail.contributor_id == contributor_id,
            OutboundMail.context["reference"].as_string() == reference)
        .order_by(OutboundMail.id).limit(1))).first()
    return None if row is None else str(row.subject or "")


async def outbound_for(session: AsyncSession, outbox_id: int) -> OutboundMail | None:
    return await session.scalar(select(OutboundMail).where(
        OutboundMail.outbox_id == outbox_id))


async def outbound_by_message_ids(session: AsyncSession,
                                  message_ids: list[str]) -> list[OutboundMail]:
    ids = [m for m in message_ids if len(m) <= 255][:20]
    if not ids:
        return []
    return list((await session.scalars(select(OutboundMail).where(
        OutboundMail.message_id.in_(ids)))).all())


async def mark_outbound(session: AsyncSession, outbound_id: int, status: str) -> None:
    await session.execute(update(OutboundMail).where(OutboundMail.id == outbound_id)
                          .values(status=status))


async def token(session: AsyncSession, contributor_id: str,
                reference: str | None = None) -> str:
    """The conversation's reply token, the same from the first reply to the last.

    It used to change to the submission's own token on submission, which split the
    thread in mail clients; ``reference`` no longer matters (a submission's old token
    is still matched, ``threads.match_thread``)."""
    return await _thread_token(session, contributor_id, new_token)


async def review_token(session: AsyncSession, reference: str) -> str:
    """The review thread's token, made on first use; only its reviewers' mail carries it."""
    return await _thread_token(session, review_key(reference), new_review_token)


async def _thread_token(session: AsyncSession, key: str, make: Any) -> str:
    existing = await session.scalar(select(MailThread.token).where(
        MailThread.contributor_id == key))
    if existing:
        return str(existing)
    await session.execute(_insert(session)(MailThread).values(
        contributor_id=key, token=make(), created_at=repository.mail_now())
        .on_conflict_do_nothing(index_elements=["contributor_id"]))
    return str(await session.scalar(select(MailThread.token).where(
        MailThread.contributor_id == key)))


def message_id_for(domain: str) -> str:
    return new_message_id(domain)


async def thread_message_ids(session: AsyncSession, thread: str, *, but: str) -> list[str]:
    """The Message-IDs of a review thread's e-mails so far, oldest first (not ``but``)."""
    return list((await session.scalars(
        select(OutboundMail.message_id).where(OutboundMail.recipient == thread,
                                              OutboundMail.message_id != but)
        .order_by(OutboundMail.id))).all())
