"""mail on the one event path: mail_inbound gives way to the inbound log

Accepted e-mails are kept in ``inbound_log`` (0004) and processed by the one worker,
so the adapter's own queue goes; a sent e-mail's row no longer points into it, and
keeps the thread's subject instead (what a later message of ours is threaded under).
Messages still waiting in ``mail_inbound`` are moved to the log first.

Revision ID: 0006
Revises: 0005 (outbox requeued_at)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WAITING = ("received", "processing", "failed")


def upgrade() -> None:
    bind = op.get_bind()
    inbound = sa.table("mail_inbound", sa.column("id"), sa.column("message_id"),
                       sa.column("mail_from"), sa.column("rcpt_tos", sa.JSON),
                       sa.column("raw", sa.LargeBinary), sa.column("size"),
                       sa.column("status"), sa.column("received_at"))
    log = sa.table("inbound_log", sa.column("channel"), sa.column("idempotency_key"),
                   sa.column("order_key"), sa.column("payload", sa.JSON),
                   sa.column("raw", sa.LargeBinary), sa.column("size"), sa.column("status"),
                   sa.column("attempts"), sa.column("received_at"))
    for row in bind.execute(sa.select(inbound).where(inbound.c.status.in_(WAITING))
                            .order_by(inbound.c.id)).all():
        sender = (row.mail_from or "").strip().strip("<>").lower() or f"#mail{row.id}"
        bind.execute(log.insert().values(
            channel="mail", idempotency_key=row.message_id[:512], order_key=sender[:320],
            payload={"mail_from": row.mail_from, "rcpt_tos": list(row.rcpt_tos or [])},
            raw=row.raw, size=row.size, status="pending", attempts=0,
            received_at=row.received_at))
    with op.batch_alter_table("mail_outbound") as batch:
        if bind.dialect.name != "sqlite":  # SQLite's copy of the table leaves it out
            batch.drop_constraint("mail_outbound_inbound_id_fkey", type_="foreignkey")
        batch.drop_column("inbound_id")
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
    op.drop_index("ix_mail_inbound_contributor_id", table_name="mail_inbound")
    op.drop_index("ix_mail_inbound_message_key", table_name="mail_inbound")
    op.drop_index("ix_mail_inbound_status", table_name="mail_inbound")
    op.drop_table("mail_inbound")


def downgrade() -> None:
    op.create_table(
        "mail_inbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("message_key", sa.String(length=64), nullable=False),
        sa.Column("mail_from", sa.String(length=998), nullable=False),
        sa.Column("rcpt_tos", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=True),
        sa.Column("sender", sa.String(length=320), nullable=True),
        sa.Column("contributor_id", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("thread_ids", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_mail_inbound_status", "mail_inbound", ["status", "id"])
    op.create_index("ix_mail_inbound_message_key", "mail_inbound", ["message_key"])
    op.create_index("ix_mail_inbound_contributor_id", "mail_inbound", ["contributor_id"])
    with op.batch_alter_table("mail_outbound") as batch:
        batch.drop_column("subject")
        batch.add_column(sa.Column("inbound_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("mail_outbound_inbound_id_fkey", "mail_inbound",
                                 ["inbound_id"], ["id"])
