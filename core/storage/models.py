"""The tables. One schema for SQLite and PostgreSQL; JSON columns hold structured state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Conversation(Base):
    """One contributor on one channel: the resumable state of their current draft."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "contributor_id", name="uq_conversation_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    contributor_id: Mapped[str] = mapped_column(String(320))
    state: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Submission(Base):
    """A dataset offered to OTDI; ``reference`` (OTDI-0042) names it everywhere."""

    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str | None] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    location: Mapped[str] = mapped_column(String(2048))
    hosting: Mapped[str] = mapped_column(String(16))
    modalities: Mapped[list[Any]] = mapped_column(default=list)
    domain: Mapped[str] = mapped_column(String(100))
    domain_is_suggestion: Mapped[bool] = mapped_column(default=False)
    email: Mapped[str] = mapped_column(String(320))
    consent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(String(32))
    contributor_id: Mapped[str] = mapped_column(String(320))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    # The current card; no foreign key, so the two tables do not reference each other.
    card_version_id: Mapped[int | None] = mapped_column(Integer)
    card_url: Mapped[str | None] = mapped_column(String(2048))
    reply_token: Mapped[str] = mapped_column(String(64), unique=True)
    # Where its review thread is (a Slack message ts): found from a thread reply at once.
    review_thread_ts: Mapped[str | None] = mapped_column(String(64), index=True)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ReferenceNumber(Base):
    """The numbers of ``OTDI-0042`` references, one row each, given out in order.

    A draft takes its number with its first message (so every reply can name it); the
    submission keeps it. An insert is all it takes, so concurrent first messages get
    distinct, increasing numbers without waiting for each other (a sequence on
    PostgreSQL; SQLite's AUTOINCREMENT never hands a number out twice).
    """

    __tablename__ = "reference_numbers"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CardVersion(Base):
    """Every card a contributor sent, kept: a corrected card is a new version."""

    __tablename__ = "card_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(String(2048))
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEntry(Base):
    """Who changed what, when, from which channel: every state change leaves one."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_submission", "submission_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    actor: Mapped[str] = mapped_column(String(320))
    channel: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class InboundEvent(Base):
    """Seen inbound ids (Slack ``event_id``, e-mail ``Message-ID``) so a retry is processed once."""

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_inbound_source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(998))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="received")
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class LoggedEvent(Base):
    """One inbound thing exactly as it arrived (an e-mail, a Slack request, a chat line).

    Written before it is acknowledged, processed once by a worker in one transaction.
    ``status``: pending -> done | poisoned; a lease (``lease_until``, ``lease_owner``)
    marks an event a worker has claimed; ``attempts`` counts claims, so an event that
    crashed the worker again and again is set aside as ``poisoned``, never lost.
    Events of one ``order_key`` (a contributor, a sender) are processed in id order.
    """

    __tablename__ = "inbound_log"
    __table_args__ = (
        UniqueConstraint("channel", "idempotency_key", name="uq_inbound_log_key"),
        Index("ix_inbound_log_pending", "status", "id"),
        Index("ix_inbound_log_order", "order_key", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(512))
    order_key: Mapped[str] = mapped_column(String(320))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A message to deliver, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Set when an operator puts a dead message back: giving up counts from here, not created_at.
    requeued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Confirmation(Base):
    """An action held until the owner of the stored address confirms it.

    A message whose sender is not authenticated may not withdraw, replace a card, speak
    to the reviewers or decide a review; the core keeps the event here and sends a
    single-use token to the address on record. Only the token's hash is stored.
    """

    __tablename__ = "confirmations"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(32))
    contributor_id: Mapped[str] = mapped_column(String(320), index=True)
    purpose: Mapped[str] = mapped_column(String(16))  # contributor | reviewer
    action: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str | None] = mapped_column(String(32))
    event_id: Mapped[int | None] = mapped_column(Integer)  # the held inbound_log event
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReviewerSignIn(Base):
    """A one-time link that signs a reviewer in to the review desk in the browser.

    Only the token's hash is stored, so a copy of the database signs no one in; a link
    works once (``used_at``) and only until ``expires_at``.
    """

    __tablename__ = "reviewer_sign_ins"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
