"""Migrations 0002 and 0006 are written by hand (core must not import ``mail``): they must
match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from core.storage.database import Database
from core.storage.models import Base
from mail import models

MAIL_TABLES = {"mail_inbound", models.MailThread.__tablename__,
               models.OutboundMail.__tablename__}  # mail_inbound: gone since 0006


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    metadata = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(metadata)

    def ours(diff: object) -> bool:
        text = repr(diff)
        return any(name in text for name in MAIL_TABLES)

    return [diff for diff in compare_metadata(context, metadata) if ours(diff)]


async def test_the_migration_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
