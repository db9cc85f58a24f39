"""``intake events`` and ``intake outbox``: what was set aside is visible and retryable."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from core.inbound import InboundLog, NewEvent
from core.outbox import enqueue
from core.storage.database import Database
from core.storage.models import OutboxMessage
from tests.test_cli import intake


async def _set_aside(url: str) -> None:
    """One event poisoned after three failed claims, one message given up on."""
    db = Database(url)
    await db.upgrade()
    log = InboundLog(db)
    await log.append(NewEvent("mail", "<deadly@example.org>", "ada@example.org"))
    await log.append(NewEvent("mail", "<fine@example.org>", "bob@example.org"))
    async with db.transaction() as session:
        dead = enqueue(session, "mail", "carol@example.org", {"parts": []})
        await session.flush()
        dead.status, dead.last_error = "dead", "SMTPRecipientRefused(550)"
    for _ in range(3):
        claimed = await log.claim("gone", lease=timedelta(seconds=60), limit=1)
        assert claimed and await log.started(claimed[0].id, "gone", timedelta(0))
    await log.poison_stale(3)
    await db.dispose()


async def _statuses(url: str) -> tuple[list[str], list[str]]:
    db = Database(url)
    lines = [line.status for line in await InboundLog(db).lines()]
    from sqlalchemy import select

    async with db.transaction() as session:
        outbox = list((await session.scalars(select(OutboxMessage.status))).all())
    await db.dispose()
    return lines, outbox


def test_poisoned_events_and_dead_messages_are_listed_and_retried(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/intake.db"
    asyncio.run(_set_aside(url))
    listed = intake("events", "list", "--poisoned", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "ada@example.org" in listed.stdout and "bob@example.org" not in listed.stdout
    assert "intake events retry" in listed.stdout  # says what to do about it
    everything = intake("events", "list", cwd=tmp_path)
    assert "bob@example.org" in everything.stdout and "pending" in everything.stdout

    dead = intake("outbox", "list", "--dead", cwd=tmp_path)
    assert dead.returncode == 0 and "carol@example.org" in dead.stdout
    assert "SMTPRecipientRefused" in dead.stdout

    unsure = intake("outbox", "retry", cwd=tmp_path)
    assert unsure.returncode == 2 and "--all-dead" in unsure.stdout
    missing = intake("outbox", "retry", "999", cwd=tmp_path)
    assert missing.returncode == 1 and "Nothing to retry" in missing.stdout
    assert intake("outbox", "retry", "--all-dead", cwd=tmp_path).stdout.startswith(
        "1 message put back")
    assert intake("events", "retry", "--all-poisoned", cwd=tmp_path).stdout.startswith(
        "1 event put back")
    events, outbox = asyncio.run(_statuses(url))
    assert events == ["pending", "pending"] and outbox == ["pending"]
