"""A conversation interrupted at any step (the process restarted) resumes at that step."""

from __future__ import annotations

from pathlib import Path

from core.conversation import Inbound, Phase
from core.storage.database import Database
from tests.core.transcript import Transcript, make_service

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()

# (what the contributor sends, the question that must be asked after it)
SCRIPT: list[tuple[object, str]] = [
    ("hello", "name"),
    ("Ocean Temperatures", "location"),
    ("https://example.org/ocean", "hosting"),
    ("no", "card"),
    (("README.md", CARD), "modalities"),
    ("text", "domain"),
    ("Marine", "email"),
    ("ada@example.org", "consent"),
    ("yes, I agree", "confirm"),
]


async def _send(chat: Transcript, message: object) -> str:
    if isinstance(message, tuple):
        return await chat.upload(*message)
    return await chat.say(str(message))


async def test_every_step_survives_a_restart(db: Database) -> None:
    for stop_after in range(len(SCRIPT)):
        contributor = f"contributor-{stop_after}"
        chat = Transcript(make_service(db))
        chat.key = type(chat.key)("chat", contributor)
        for message, _ in SCRIPT[: stop_after + 1]:
            await _send(chat, message)
        expected = SCRIPT[stop_after][1]

        # A new process: a new engine and a new service on the same database.
        fresh_db = Database(db.url)
        try:
            resumed = Transcript(make_service(fresh_db), key=chat.key)
            state = await resumed.state()
            assert state.asking == expected, (stop_after, state.asking)
            answer = await resumed._run(Inbound("resume"))
            assert "Welcome back" in answer
            # The rest of the script completes the submission from where it stopped.
            for message, _ in SCRIPT[stop_after + 1:]:
                await _send(resumed, message)
            answer = await resumed.say("yes")
            assert "is submitted as OTDI-" in answer, answer
            final = await resumed.state()
            assert final.phase is Phase.SUBMITTED
            assert final.answers.name == "Ocean Temperatures"
            assert final.answers.domain is not None and final.answers.domain.value == "Marine"
        finally:
            await fresh_db.dispose()
