"""reference_numbers: a draft has its OTDI-NNNN from the first message

References were the submission's id, given when the draft was submitted, so the first
replies had none and the e-mail thread changed its subject and Reply-To half way. Now a
row here is the number, taken by the draft's first turn. The numbers already used by
submissions are entered, so the next number follows the highest one.

Revision ID: 0009
Revises: 0008 (reviewer sign-ins)
Create Date: 2026-12-01
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "reference_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    bind = op.get_bind()
    submissions = sa.table("submissions", sa.column("id"), sa.column("reference"),
                           sa.column("conversation_id"),
                           sa.column("created_at", sa.DateTime(timezone=True)))
    rows = []
    for row in bind.execute(sa.select(submissions).order_by(submissions.c.id)).all():
        found = re.fullmatch(r"OTDI-0*(\d+)", row.reference or "")
        number = int(found.group(1)) if found else row.id
        rows.append({"id": number, "conversation_id": row.conversation_id,
                     "created_at": row.created_at})
    if rows:
        op.bulk_insert(table, rows)
    if bind.dialect.name == "postgresql":  # explicit ids do not move the sequence
        bind.execute(sa.text(
            "SELECT setval(pg_get_serial_sequence('reference_numbers', 'id'), "
            "COALESCE((SELECT MAX(id) FROM reference_numbers), 0) + 1, false)"))


def downgrade() -> None:
    op.drop_table("reference_numbers")
