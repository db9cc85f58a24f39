"""Conversation turns per second through the core with the database (SQLite).

Baseline, in the same run: the same number of bare inserts of one row each, each in
its own transaction, on the same kind of database. The ratio says what a turn costs
over the least a stored turn could cost.

    .venv/bin/python bench/conversation.py [--conversations 40]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, insert

from core.conversation import CardFile, Inbound
from core.runtime import build_runtime
from core.service import ConversationKey
from core.settings import Settings
from core.storage.database import Database

CARD = (Path(__file__).resolve().parent.parent / "tests" / "data" / "ocean_card.md").read_bytes()
SCRIPT = [Inbound(text="hello"), Inbound(text="Ocean Temperatures"),
          Inbound(text="https://example.org/ocean"), Inbound(text="no"),
          Inbound("file", file=CardFile("README.md", CARD)), Inbound(text="text, images"),
          Inbound(text="marine"), Inbound(text="ada@example.org"),
          Inbound(text="yes, I agree"), Inbound(text="yes")]


async def turns_per_second(url: str, conversations: int) -> tuple[float, int]:
    db = Database(url)
    await db.upgrade()
    service = build_runtime(Settings(_env_file=None, INTAKE_DATABASE_URL=url), db).service
    started = time.perf_counter()
    turns = 0
    for index in range(conversations):
        key = ConversationKey("bench", f"contributor-{index}")
        for event in SCRIPT:
            await service.handle(key, event)
            turns += 1
    elapsed = time.perf_counter() - started
    await db.dispose()
    return turns / elapsed, turns


async def inserts_per_second(url: str, count: int) -> float:
    db = Database(url)
    table = Table("bare", MetaData(), Column("id", Integer, primary_key=True),
                  Column("value", String(100)))
    async with db.engine.begin() as connection:
        await connection.run_sync(table.metadata.create_all)
    started = time.perf_counter()
    for index in range(count):
        async with db.transaction() as session:
            await session.execute(insert(table).values(value=f"row {index}"))
    elapsed = time.perf_counter() - started
    await db.dispose()
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        rate, turns = await turns_per_second(f"sqlite+aiosqlite:///{folder}/bench.db",
                                             args.conversations)
        baseline = await inserts_per_second(f"sqlite+aiosqlite:///{folder}/bare.db", turns)
    print(f"conversation turns/s (SQLite, {turns} turns): {rate:,.0f}")
    print(f"bare one-row inserts/s (SQLite, {turns} inserts): {baseline:,.0f}")
    print(f"ratio turns/inserts: {rate / baseline:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
