"""The e-mail adapter's tables (created by migration 0002; core never imports this module)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.storage.models import Base, utcnow


class InboundMail(Base):
    """A message exactly as accepted, stored before the 250 so a crash loses nothing.

    ``status``: received -> processing -> processed | ignored | duplicate | failed.
    """

    __tablename__ = "mail_inbound"
    __table_args__ = (Index("ix_mail_inbound_status", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(998))
    message_key: Mapped[str] = mapped_column(String(64), index=True)
    mail_from: Mapped[str] = mapped_column(String(998), default="")
    rcpt_tos: Mapped[list[Any]] = mapped_column(default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="received")
    outcome: Mapped[str | None] = mapped_column(String(64))
    sender: Mapped[str | None] = mapped_column(String(320))
    contributor_id: Mapped[str | None] = mapped_column(String(320), index=True)
    subject: Mapped[str | None] = mapped_column(Text)
    # Its Message-ID after its References: what a reply to it puts in References.
    thread_ids: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MailThread(Base):
    """The unguessable reply token of one e-mail conversation (before it has a submission)."""

    __tablename__ = "mail_threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    contributor_id: Mapped[str] = mapped_column(String(320), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboundMail(Base):
    """One e-mail we send for one outbox message: its Message-ID, what it answers, its fate.

    ``status``: queued -> sent | suppressed (rate limit); a bounce later marks it bounced.
    ``outbox_id`` has no foreign key so the outbox can be pruned independently.
    """

    __tablename__ = "mail_outbound"
    __table_args__ = (Index("ix_mail_outbound_recipient", "recipient", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(Integer, unique=True)
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("mail_inbound.id"))
    recipient: Mapped[str] = mapped_column(String(320))
    contributor_id: Mapped[str | None] = mapped_column(String(320))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
