"""e-mail inbox: accepted messages, reply tokens, sent messages

Revision ID: 0002
Revises: 0001
Written by hand (core must not import ``mail.models``); keep it in step with that module.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
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
    op.create_table(
        "mail_threads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contributor_id", sa.String(length=320), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contributor_id"),
        sa.UniqueConstraint("token"),
    )
    op.create_table(
        "mail_outbound",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("contributor_id", sa.String(length=320), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["inbound_id"], ["mail_inbound.id"]),
        sa.ForeignKeyConstraint(["submission_id"], ["submissions.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index("ix_mail_outbound_recipient", "mail_outbound", ["recipient", "sent_at"])


def downgrade() -> None:
    op.drop_index("ix_mail_outbound_recipient", table_name="mail_outbound")
    op.drop_table("mail_outbound")
    op.drop_table("mail_threads")
    op.drop_index("ix_mail_inbound_contributor_id", table_name="mail_inbound")
    op.drop_index("ix_mail_inbound_message_key", table_name="mail_inbound")
    op.drop_index("ix_mail_inbound_status", table_name="mail_inbound")
    op.drop_table("mail_inbound")
