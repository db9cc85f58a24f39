"""The e-mail adapter's tables (migrations 0002 and 0006; core never imports this module).

Accepted messages live in the core's inbound log; what stays here is what delivery and
threading need: reply tokens, and the Message-ID of every e-mail we send.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.repository import MAIL_TABLE_BASE as Base
from core.repository import mail_now as utcnow


class MailThread(Base):
    """The unguessable reply token of one e-mail conversation (before it has a submission)."""

    __tablename__ = "mail_threads"

    id: Mapped[int] = mapped_column(primary_key=True)
    contributor_id: Mapped[str] = mapped_column(String(320), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class OutboundMail(Base):
    """One e-mail we send for one outbox message: its Message-ID, what it answers, its fate.

    Written in the transaction that queues the reply, so a reply to it or a bounce of it
    is matched even before it is sent. ``status``: queued, later bounced (whether it was
    sent is the outbox's record). ``subject``: the thread's subject as the contributor
    wrote it. ``outbox_id`` has no foreign key so the outbox can be pruned independently.
    """

    __tablename__ = "mail_outbound"
    __table_args__ = (Index("ix_mail_outbound_recipient", "recipient", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(Integer, unique=True)
    recipient: Mapped[str] = mapped_column(String(320))
    contributor_id: Mapped[str | None] = mapped_column(String(320))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id"))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
