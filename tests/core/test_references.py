"""The reference from the first reply: a draft is OTDI-NNNN from its first message on.

Numbers are given by one insert each (``reference_numbers``), so they stay unique and
increasing when first messages of different people arrive at the same moment, on SQLite
and on PostgreSQL; a cancelled or restarted draft keeps its number, a new contribution
after a submission takes the next one.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import select, text
from sqlalchemy.engine import Connection

from core.service import ConversationKey
from core.storage.database import Database, alembic_config
from core.storage.models import OutboxMessage, ReferenceNumber, Submission
from tests.core.transcript import Transcript, make_service

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()


async def submit(chat: Transcript) -> str:
    """Every field one at a time, then yes: what the bot answered last."""
    await chat.say("name: Ocean Temperatures")
    await chat.say("https://example.org/ocean")
    await chat.say("yes")
    await chat.upload("README.md", CARD)
    await chat.say("text")
    await chat.say("Marine")
    await chat.say("ada@example.org")
    await chat.say("yes, I agree")
    return await chat.say("yes")


async def payload_references(db: Database, recipient: str) -> list[str | None]:
    async with db.transaction() as session:
        payloads = (await session.scalars(select(OutboxMessage.payload).where(
            OutboxMessage.recipient == recipient).order_by(OutboxMessage.id))).all()
    return [p.get("reference") for p in payloads]


async def test_the_first_reply_already_names_the_draft(db: Database) -> None:
    chat = Transcript(make_service(db))
    await chat.say("hello, I have a dataset")
    assert (await chat.state()).reference == "OTDI-0001"
    answer = await submit(chat)
    assert "submitted as OTDI-0001" in answer
    references = await payload_references(db, "ada")
    assert len(references) == 10 and set(references) == {"OTDI-0001"}  # every reply
    async with db.transaction() as session:
        submission = await session.scalar(select(Submission))
    assert submission is not None and submission.reference == "OTDI-0001"


async def test_status_of_a_draft_names_it_and_counts_answers(db: Database) -> None:
    chat = Transcript(make_service(db))
    await chat.say("name: Ocean")
    answer = await chat.say("status")
    assert "Your draft OTDI-0001: 1 of 8 answers given.\nStill needed:" in answer


async def test_cancel_and_restart_keep_the_number_a_new_contribution_takes_the_next(
        db: Database) -> None:
    service = make_service(db)
    ada = Transcript(service)
    await ada.say("name: Ocean")
    await ada.say("restart")
    assert (await ada.state()).reference == "OTDI-0001"
    await ada.say("cancel")
    await ada.say("yes")  # a confirmation, if cancelling asks for one
    await ada.say("name: Ocean again")
    assert (await ada.state()).reference == "OTDI-0001"
    bob = Transcript(service, ConversationKey("chat", "bob"))
    await bob.say("hello")
    assert (await bob.state()).reference == "OTDI-0002"
    assert "submitted as OTDI-0001" in await submit(ada)
    await ada.say("restart")  # after a submission: another dataset, another number
    assert (await ada.state()).reference == "OTDI-0003"


async def test_concurrent_first_messages_get_distinct_increasing_numbers(
        db: Database) -> None:
    service = make_service(db)
    people = [f"person{i:02d}" for i in range(12)]
    await asyncio.gather(*(Transcript(service, ConversationKey("chat", p)).say("hello")
                           for p in people))
    states = [await Transcript(service, ConversationKey("chat", p)).state() for p in people]
    numbers = sorted(int(s.reference.removeprefix("OTDI-")) for s in states if s.reference)
    assert numbers == list(range(1, 13))  # unique, none lost, none skipped
    late = Transcript(service, ConversationKey("chat", "late"))
    await late.say("hello")
    assert (await late.state()).reference == "OTDI-0013"  # after every earlier one


def _to(connection: Connection, revision: str, *, down: bool) -> None:
    config = alembic_config(connection)
    (command.downgrade if down else command.upgrade)(config, revision)


async def test_numbers_continue_after_the_submissions_made_before_the_upgrade(
        db: Database) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(_to, "0008", down=True)
        now = datetime(2026, 11, 30, tzinfo=UTC)
        await connection.execute(text(
            "INSERT INTO submissions (id, reference, status, name, location, hosting, "
            "modalities, domain, domain_is_suggestion, email, consent_at, channel, "
            "contributor_id, reply_token, extra, created_at, updated_at) VALUES (41, "
            "'OTDI-0041', 'submitted', 'Old', 'https://example.org/old', 'self', '[]', "
            "'Marine', false, 'old@example.org', :now, 'chat', 'old', 'tok41', '{}', :now, "
            ":now)"), {"now": now})
        await connection.run_sync(_to, "head", down=False)
    async with db.transaction() as session:
        taken = (await session.scalars(select(ReferenceNumber.id))).all()
    assert list(taken) == [41]
    chat = Transcript(make_service(db))
    await chat.say("hello")
    assert (await chat.state()).reference == "OTDI-0042"


def test_intake_chat_shows_the_reference_from_its_first_line(tmp_path: Path) -> None:
    from tests.test_cli import intake

    chat = intake("chat", "--as", "ada", cwd=tmp_path, stdin="Ocean Temperatures\n")
    assert chat.returncode == 0, chat.stderr
    lines = [line for line in chat.stdout.splitlines() if "intake>" in line]
    assert len(lines) >= 2 and all(line.startswith("[OTDI-0001] intake>") for line in lines)
