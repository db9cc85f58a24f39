"""Reads and writes of the e-mail tables.

Each step of a message's life is one short transaction (store, claim, prepare, conclude;
plan and record a delivery): on SQLite every transaction takes the write lock, so their
number, not their size, sets the pace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.outbox import enqueue
from core.storage.database import Database
from core.storage.models import (
    AuditEntry,
    CardVersion,
    Conversation,
    InboundEvent,
    OutboxMessage,
    Submission,
    utcnow,
)
from mail.models import InboundMail, MailThread, OutboundMail
from mail.parsing import message_id_of, message_key, quick_headers
from mail.threads import (
    REVIEW_PREFIX,
    ThreadMatch,
    is_review_tag,
    match_thread,
    new_message_id,
    new_review_token,
    new_token,
    review_key,
)

TERMINAL = ("processed", "ignored", "duplicate")
SENT = ("sent", "bounced")


def _insert(db: Database) -> Any:
    return sqlite_insert if db.is_sqlite else pg_insert


# -- inbound ----------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredMail:
    """A detached copy of an accepted message, for processing outside the transaction."""

    id: int
    raw: bytes
    mail_from: str
    rcpt_tos: list[str]
    message_id: str
    message_key: str
    attempts: int


def sender_key(mail_from: str, row_id: int) -> str:
    """Messages of one envelope sender are processed in order; a null sender needs none."""
    address = mail_from.strip().strip("<>").lower()
    return address or f"#{row_id}"


async def save_inbound(db: Database, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
    """Store an accepted message before its 250 is sent; returns its row id."""
    message_id = message_id_of(quick_headers(raw).get("message-id", ""), raw)[:998]
    async with db.transaction() as session:
        return int(await session.scalar(insert(InboundMail).values(
            message_id=message_id, message_key=message_key(message_id),
            mail_from=mail_from[:998], rcpt_tos=[r[:998] for r in rcpt_tos], raw=raw,
            size=len(raw), status="received", attempts=0, thread_ids=[],
            received_at=utcnow()).returning(InboundMail.id)))


async def pending(db: Database, exclude: set[int], retry_failed: bool,
                  max_attempts: int, limit: int = 200) -> list[tuple[int, str]]:
    """(id, sender key) of messages still to process, oldest first."""
    statuses = ["received", "processing"] + (["failed"] if retry_failed else [])
    async with db.transaction() as session:
        rows = (await session.execute(
            select(InboundMail.id, InboundMail.mail_from)
            .where(InboundMail.status.in_(statuses), InboundMail.attempts < max_attempts)
            .order_by(InboundMail.id).limit(limit + len(exclude)))).all()
    return [(r.id, sender_key(r.mail_from, r.id)) for r in rows if r.id not in exclude][:limit]


async def claim(db: Database, row_id: int) -> StoredMail | None:
    """Mark a message as being processed (counting the attempt) and load it."""
    async with db.transaction() as session:
        claimed = await session.execute(
            update(InboundMail)
            .where(InboundMail.id == row_id, InboundMail.status.not_in(TERMINAL))
            .values(status="processing", attempts=InboundMail.attempts + 1)
            .returning(InboundMail.raw, InboundMail.mail_from, InboundMail.rcpt_tos,
                       InboundMail.message_id, InboundMail.message_key, InboundMail.attempts))
        row = claimed.first()
    if row is None:
        return None
    return StoredMail(row_id, row.raw, row.mail_from, list(row.rcpt_tos), row.message_id,
                      row.message_key, row.attempts)


@dataclass(frozen=True)
class Preparation:
    """What the database says about a parsed message before its turn."""

    duplicate: bool = False
    match: ThreadMatch | None = None
    contributor_id: str | None = None  # whose conversation it speaks for; None: a stranger's
    review: ReviewMatch | None = None  # an answer in a submission's review thread


async def prepare(db: Database, stored: StoredMail, *, sender: str, subject: str,
                  thread_ids: list[str], tags: list[str], message_ids: list[str],
                  conversation: bool) -> Preparation:
    """Duplicate check, thread match and sender check, and note whose message it is.

    ``conversation`` is False for bounces and robots: they only need the duplicate check.
    """
    async with db.transaction() as session:
        seen = await session.scalar(select(InboundMail.id).where(
            InboundMail.message_key == stored.message_key, InboundMail.id != stored.id,
            InboundMail.status.in_(TERMINAL)).limit(1))
        if seen is not None:
            return Preparation(duplicate=True)
        values: dict[str, Any] = {"sender": sender[:320] or None, "subject": subject[:998],
                                  "thread_ids": thread_ids}
        preparation = Preparation()
        if conversation and sender:
            # A review token names its thread exactly; then a contributor's token or
            # thread; then a reply to a review e-mail that lost the token on the way.
            review = await _review_match(session, tags, [])
            match = None if review else await match_thread(session, tags, message_ids)
            if review is None and match is None:
                review = await _review_match(session, [], message_ids)
            if review is not None:
                preparation = Preparation(review=review)
            else:
                contributor: str | None = sender
                if match is not None and sender not in await _speakers(session, match):
                    contributor = None
                elif match is not None:
                    contributor = match.contributor_id
                preparation = Preparation(match=match, contributor_id=contributor)
                values["contributor_id"] = contributor
        await session.execute(update(InboundMail).where(InboundMail.id == stored.id)
                              .values(**values))
        return preparation


async def _speakers(session: AsyncSession, match: ThreadMatch) -> set[str]:
    """Addresses that speak for a conversation: its own and the contact e-mail given."""
    addresses = {match.contributor_id.lower()}
    state = await session.scalar(select(Conversation.state).where(
        Conversation.channel == "mail", Conversation.contributor_id == match.contributor_id))
    email = ((state or {}).get("answers") or {}).get("email")
    if isinstance(email, str):
        addresses.add(email.lower())
    if match.submission_id is not None:
        submitted = await session.scalar(select(Submission.email).where(
            Submission.id == match.submission_id))
        if submitted:
            addresses.add(submitted.lower())
    return addresses


@dataclass(frozen=True)
class ReplyLink:
    """The replies a turn queued, and what the deliverer should know about them.

    ``adopt``: the turn had been committed before a crash, so its replies are unknown
    here; those still waiting for this contributor since the message arrived are its.
    """

    outbox_ids: list[int]
    recipient: str
    submission_id: int | None = None
    context: dict[str, Any] = field(default_factory=dict)
    adopt: bool = False


async def conclude(db: Database, row_id: int, status: str, outcome: str, domain: str,
                   link: ReplyLink | None = None, error: str | None = None) -> None:
    """Mark a message done, linking the replies its turn queued to it (one transaction)."""
    async with db.transaction() as session:
        if link is not None:
            outbox_ids = list(link.outbox_ids)
            if link.adopt:
                outbox_ids += await _unlinked_replies(session, row_id, link.recipient)
            for outbox_id in outbox_ids:
                await session.execute(_insert(db)(OutboundMail).values(
                    outbox_id=outbox_id, inbound_id=row_id, recipient=link.recipient,
                    contributor_id=link.recipient, submission_id=link.submission_id,
                    message_id=new_message_id(domain), context=link.context, status="queued",
                    created_at=utcnow()).on_conflict_do_nothing(index_elements=["outbox_id"]))
        await session.execute(update(InboundMail).where(InboundMail.id == row_id).values(
            status=status, outcome=outcome[:64], error=error, processed_at=utcnow()))


async def _unlinked_replies(session: AsyncSession, row_id: int, recipient: str) -> list[int]:
    received = await session.scalar(select(InboundMail.received_at).where(
        InboundMail.id == row_id))
    linked = select(OutboundMail.outbox_id).where(OutboundMail.recipient == recipient)
    return list((await session.scalars(
        select(OutboxMessage.id).where(
            OutboxMessage.channel == "mail", OutboxMessage.recipient == recipient,
            OutboxMessage.status.in_(("pending", "sending")),
            OutboxMessage.created_at >= received, OutboxMessage.id.not_in(linked))
        .order_by(OutboxMessage.id))).all())


# -- outbound ---------------------------------------------------------------------------

@dataclass
class DeliveryPlan:
    """Everything a reply needs, read in one transaction."""

    outbound: OutboundMail | None = None
    processing_inbound: int | None = None  # not linked yet: the message still in its turn
    sent_last_hour: int = 0
    siblings: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    subject: str = ""
    state: dict[str, Any] = field(default_factory=dict)
    token: str | None = None


async def plan_delivery(db: Database, *, outbox_id: int, recipient: str,
                        submission_id: int | None, reference: str | None, domain: str,
                        since: datetime, create: bool, answers: int | None = None
                        ) -> DeliveryPlan:
    """The reply's e-mail row, its thread, token and neighbours, in one transaction.

    Without a row yet: report the contributor's message still in its turn, or (with
    ``create``) make the row, as a reply to ``answers`` or, when that is None, as a
    message of our own (a reviewer's decision, say), threaded to our last e-mail.
    """
    async with db.transaction() as session:
        outbound = await session.scalar(select(OutboundMail).where(
            OutboundMail.outbox_id == outbox_id))
        if outbound is None and not create:
            processing = await session.scalar(
                select(InboundMail.id).where(InboundMail.contributor_id == recipient,
                                             InboundMail.status == "processing")
                .order_by(InboundMail.id.desc()).limit(1))
            return DeliveryPlan(processing_inbound=processing)
        if outbound is None:
            outbound = OutboundMail(outbox_id=outbox_id, inbound_id=answers, recipient=recipient,
                                    contributor_id=recipient, submission_id=submission_id,
                                    context={} if answers else {"spontaneous": True},
                                    status="queued", message_id=new_message_id(domain),
                                    created_at=utcnow())
            session.add(outbound)
            await session.flush()
        plan = DeliveryPlan(outbound=outbound)
        plan.sent_last_hour = int(await session.scalar(select(func.count(OutboundMail.id)).where(
            OutboundMail.recipient == recipient, OutboundMail.status.in_(SENT),
            OutboundMail.sent_at >= since)) or 0)
        plan.siblings = await _siblings(session, outbound)
        await _thread(session, outbound, plan)
        if outbound.contributor_id is not None:
            if "missing" not in (outbound.context or {}):
                plan.state = dict(await session.scalar(select(Conversation.state).where(
                    Conversation.channel == "mail",
                    Conversation.contributor_id == outbound.contributor_id)) or {})
            plan.token = await _token(db, session, outbound.contributor_id, reference)
        return plan


async def _siblings(session: AsyncSession, outbound: OutboundMail
                    ) -> list[tuple[int, dict[str, Any]]]:
    """Later replies to the same message, not sent yet: (outbound id, payload), in order.

    One message can cause two turns (a card fetched by URL comes back as a second one);
    the contributor gets one e-mail for them.
    """
    if outbound.inbound_id is None or outbound.contributor_id is None:
        return []
    rows = (await session.execute(
        select(OutboundMail.id, OutboxMessage.payload)
        .join(OutboxMessage, OutboxMessage.id == OutboundMail.outbox_id)
        .where(OutboundMail.inbound_id == outbound.inbound_id,
               OutboundMail.recipient == outbound.recipient,
               OutboundMail.contributor_id.is_not(None),
               OutboundMail.outbox_id > outbound.outbox_id,
               OutboundMail.status == "queued",
               OutboxMessage.status.in_(("pending", "sending")))
        .order_by(OutboundMail.outbox_id))).all()
    return [(row.id, dict(row.payload)) for row in rows]


async def _thread(session: AsyncSession, outbound: OutboundMail, plan: DeliveryPlan) -> None:
    """Thread to the message answered, else to our last e-mail to the same person."""
    previous = await session.scalar(
        select(OutboundMail.message_id).where(
            OutboundMail.recipient == outbound.recipient, OutboundMail.id != outbound.id,
            OutboundMail.status.in_(SENT)).order_by(OutboundMail.id.desc()).limit(1))
    inbound = None
    if outbound.inbound_id is not None:
        inbound = (await session.execute(
            select(InboundMail.message_id, InboundMail.thread_ids, InboundMail.subject)
            .where(InboundMail.id == outbound.inbound_id))).first()
    if inbound is None:  # a message of our own: continue the thread we had with them
        plan.in_reply_to, plan.references = previous, [previous] if previous else []
        plan.subject = await session.scalar(
            select(InboundMail.subject).where(InboundMail.contributor_id == outbound.recipient)
            .order_by(InboundMail.id.desc()).limit(1)) or ""
        return
    plan.subject = inbound.subject or ""
    plan.references = [str(m) for m in inbound.thread_ids or []][-10:]
    if inbound.message_id.startswith("<sha256."):  # made up by us: means nothing to them
        plan.in_reply_to = previous
        plan.references = [m for m in plan.references if m != inbound.message_id]
        if previous:
            plan.references.append(previous)
    else:
        plan.in_reply_to = inbound.message_id


async def _token(db: Database, session: AsyncSession, contributor_id: str,
                 reference: str | None) -> str:
    """The submission's own token once there is one; the conversation's before."""
    if reference:
        token = await session.scalar(select(Submission.reply_token).where(
            Submission.reference == reference, Submission.channel == "mail",
            Submission.contributor_id == contributor_id))
        if token:
            return str(token)
    await session.execute(_insert(db)(MailThread).values(
        contributor_id=contributor_id, token=new_token(), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["contributor_id"]))
    return str(await session.scalar(select(MailThread.token).where(
        MailThread.contributor_id == contributor_id)))


async def delivered(db: Database, outbound_id: int, merged: list[int], when: datetime) -> None:
    async with db.transaction() as session:
        await session.execute(update(OutboundMail).where(OutboundMail.id == outbound_id)
                              .values(status="sent", sent_at=when))
        if merged:
            await session.execute(update(OutboundMail).where(OutboundMail.id.in_(merged))
                                  .values(status="merged"))


async def mark_outbound(db: Database, outbound_id: int, status: str) -> None:
    async with db.transaction() as session:
        await session.execute(update(OutboundMail).where(OutboundMail.id == outbound_id)
                              .values(status=status))


async def outbound_by_message_ids(db: Database, message_ids: list[str]) -> list[OutboundMail]:
    ids = [m for m in message_ids if len(m) <= 255][:20]
    if not ids:
        return []
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboundMail).where(
            OutboundMail.message_id.in_(ids)))).all())


# -- review thread ----------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewMatch:
    """The submission whose review thread a message answers."""

    reference: str
    submission_id: int
    by: str = "token"


async def _review_match(session: AsyncSession, tags: list[str],
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


async def _review_of(session: AsyncSession, reference: str, by: str) -> ReviewMatch | None:
    submission_id = await session.scalar(select(Submission.id).where(
        Submission.reference == reference))
    return ReviewMatch(reference, submission_id, by) if submission_id is not None else None


@dataclass
class ReviewPlan:
    """What one e-mail of a review thread needs, read in one transaction."""

    outbound: OutboundMail
    token: str
    earlier_waiting: bool = False  # an earlier e-mail of this thread is not sent yet
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    sent_last_hour: int = 0
    card: tuple[str, bytes] | None = None  # (filename, content) of a card to attach


async def plan_review(db: Database, *, outbox_id: int, reference: str, recipient: str,
                      submission_id: int | None, domain: str, since: datetime,
                      card_version_id: int | None = None) -> ReviewPlan:
    """The e-mail's row (one Message-ID across retries), its place in the thread, the token.

    ``recipient`` is the thread's key for the e-mails all reviewers get, or one address
    for an answer to one person (threaded under the message it answers).
    """
    thread = review_key(reference)
    async with db.transaction() as session:
        earlier = await session.scalar(select(OutboxMessage.id).where(
            OutboxMessage.channel == "review", OutboxMessage.submission_id == submission_id,
            OutboxMessage.id < outbox_id,
            OutboxMessage.status.in_(("pending", "sending"))).limit(1))
        outbound = await session.scalar(select(OutboundMail).where(
            OutboundMail.outbox_id == outbox_id))
        if outbound is None:
            outbound = OutboundMail(outbox_id=outbox_id, recipient=recipient[:320],
                                    contributor_id=None, submission_id=submission_id,
                                    context={"review": reference}, status="queued",
                                    message_id=new_message_id(domain), created_at=utcnow())
            session.add(outbound)
            await session.flush()
        plan = ReviewPlan(outbound=outbound, token=await _review_token(db, session, reference),
                          earlier_waiting=earlier is not None)
        sent = list((await session.scalars(
            select(OutboundMail.message_id).where(OutboundMail.recipient == thread,
                                                  OutboundMail.status.in_(SENT),
                                                  OutboundMail.id != outbound.id)
            .order_by(OutboundMail.id))).all())
        plan.in_reply_to = sent[-1] if sent else None
        plan.references = [*sent[:1], *sent[1:][-8:]]
        if outbound.inbound_id is not None:
            inbound = (await session.execute(
                select(InboundMail.message_id, InboundMail.thread_ids)
                .where(InboundMail.id == outbound.inbound_id))).first()
            if inbound is not None:
                plan.in_reply_to = inbound.message_id
                plan.references = list(dict.fromkeys(
                    [*sent[:1], *[str(m) for m in inbound.thread_ids or []][-10:]]))
        if recipient != thread:
            plan.sent_last_hour = int(await session.scalar(
                select(func.count(OutboundMail.id)).where(
                    OutboundMail.recipient == recipient, OutboundMail.status.in_(SENT),
                    OutboundMail.sent_at >= since)) or 0)
        if card_version_id is not None:
            card = await session.get(CardVersion, card_version_id)
            if card is not None:
                plan.card = (card.filename, card.content)
        return plan


async def _review_token(db: Database, session: AsyncSession, reference: str) -> str:
    """The review thread's token, made on first use; only its reviewers' mail carries it."""
    key = review_key(reference)
    await session.execute(_insert(db)(MailThread).values(
        contributor_id=key, token=new_review_token(), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["contributor_id"]))
    return str(await session.scalar(select(MailThread.token).where(
        MailThread.contributor_id == key)))


async def enqueue_review_answer(db: Database, *, inbound_id: int, recipient: str,
                                submission_id: int, payload: dict[str, Any],
                                domain: str) -> int:
    """An answer to one person's e-mail in a review thread, threaded under it."""
    async with db.transaction() as session:
        message = enqueue(session, "review", recipient, payload, submission_id=submission_id)
        await session.flush()
        session.add(OutboundMail(outbox_id=message.id, inbound_id=inbound_id,
                                 recipient=recipient[:320], contributor_id=None,
                                 submission_id=submission_id,
                                 context={"review": payload.get("reference")},
                                 message_id=new_message_id(domain), status="queued",
                                 created_at=utcnow()))
        return int(message.id)


async def claim_review_message(db: Database, *, inbound_id: int, message_id: str,
                               retry: bool, submission_id: int, actor: str,
                               action: str) -> str:
    """Whether to apply a reviewer's decision: ``new``, ``duplicate`` or ``applied``.

    The decision and its audit row commit in ``ReviewDesk.decide``'s own transaction,
    so a message seen before is only applied again when it is our own retry after a
    crash and the audit log has no such decision by this reviewer since it arrived.
    """
    async with db.transaction() as session:
        inserted = await session.scalar(
            _insert(db)(InboundEvent).values(source="mail.review",
                                             external_id=message_id[:998], payload={},
                                             status="received", received_at=utcnow())
            .on_conflict_do_nothing(index_elements=["source", "external_id"])
            .returning(InboundEvent.id))
        if inserted is not None:
            return "new"
        if not retry:
            return "duplicate"
        received = await session.scalar(select(InboundMail.received_at).where(
            InboundMail.id == inbound_id))
        done = await session.scalar(select(AuditEntry.id).where(
            AuditEntry.submission_id == submission_id, AuditEntry.actor == actor,
            AuditEntry.action == action, AuditEntry.created_at >= received).limit(1))
        return "applied" if done is not None else "new"


async def audited(db: Database, *, submission_id: int, actor: str, action: str) -> bool:
    """Whether this person already has an audit row of this kind on the submission."""
    async with db.transaction() as session:
        return await session.scalar(select(AuditEntry.id).where(
            AuditEntry.submission_id == submission_id, AuditEntry.actor == actor,
            AuditEntry.action == action).limit(1)) is not None
