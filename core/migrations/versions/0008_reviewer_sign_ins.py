"""reviewer_sign_ins: one-time links that sign a reviewer in to the review desk

Revision ID: 0008
Revises: 0007 (confirmations)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reviewer_sign_ins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_reviewer_sign_ins_email", "reviewer_sign_ins", ["email"])


def downgrade() -> None:
    op.drop_index("ix_reviewer_sign_ins_email", table_name="reviewer_sign_ins")
    op.drop_table("reviewer_sign_ins")
