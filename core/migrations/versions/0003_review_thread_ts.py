"""submissions.review_thread_ts: find a submission from a reply in its review thread

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("review_thread_ts", sa.String(length=64), nullable=True))
        batch.create_index("ix_submissions_review_thread_ts", ["review_thread_ts"])


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_index("ix_submissions_review_thread_ts")
        batch.drop_column("review_thread_ts")
