"""``intake submissions list --status S`` and ``export REF``, on SQLite and PostgreSQL.

A submission is made the way a newcomer makes one (``intake chat`` in a subprocess), then
the operator's commands run as installed, against the same database.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

from core.review import Status
from core.storage.database import Database
from tests.test_cli import CARD, intake

CHAT = "\n".join([
    "Ocean Temperatures", "https://example.org/ocean", "yes", f"card: {CARD}",
    "text, images", "time-series", "ada@example.org", "yes, I agree", "yes"]) + "\n"


async def run(*args: str, cwd: Path, db: Database, stdin: str = ""
              ) -> subprocess.CompletedProcess[str]:
    """The installed command on the test's database, off the event loop."""
    return await asyncio.to_thread(intake, *args, cwd=cwd, stdin=stdin,
                                   env={"INTAKE_DATABASE_URL": db.url})


async def submitted(tmp_path: Path, db: Database) -> None:
    chat = await run("chat", "--as", "ada", cwd=tmp_path, db=db, stdin=CHAT)
    assert "is submitted as OTDI-0001" in chat.stdout, chat.stdout[-2000:]


async def test_list_by_status(tmp_path: Path, db: Database) -> None:
    await submitted(tmp_path, db)
    listed = await run("submissions", "list", "--status", "submitted", cwd=tmp_path, db=db)
    assert listed.returncode == 0 and "OTDI-0001" in listed.stdout
    assert "Ocean Temperatures" in listed.stdout
    none = await run("submissions", "list", "--status", "approved", cwd=tmp_path, db=db)
    assert none.returncode == 0 and "No submissions are approved." in none.stdout
    assert "OTDI-0001" not in none.stdout

    wrong = await run("submissions", "list", "--status", "aproved", cwd=tmp_path, db=db)
    assert wrong.returncode == 2 and "Traceback" not in wrong.stderr
    assert 'There is no status "aproved"' in wrong.stdout
    for status in Status:
        assert status in wrong.stdout

    helped = await run("submissions", "list", "--help", cwd=tmp_path, db=db)
    shown = re.search(r"\(submitted,[^)]*\)", " ".join(helped.stdout.split()))
    assert shown is not None
    assert shown.group(0).strip("()").split(", ") == [str(status) for status in Status]


async def test_export_writes_the_record_and_every_card_version(tmp_path: Path,
                                                               db: Database) -> None:
    await submitted(tmp_path, db)
    helped = await run("submissions", "export", "--help", cwd=tmp_path, db=db)
    assert "directory" in helped.stdout and "record.json" in helped.stdout

    exported = await run("submissions", "export", "otdi-1", "--to", "out", cwd=tmp_path,
                         db=db)
    assert exported.returncode == 0, exported.stderr
    assert "OTDI-0001 exported to out/" in exported.stdout
    record = json.loads((tmp_path / "out" / "record.json").read_text(encoding="utf-8"))
    assert record["reference"] == "OTDI-0001" and record["status"] == "submitted"
    fields = record["submission"]
    assert fields["name"] == "Ocean Temperatures"
    assert fields["location"] == "https://example.org/ocean"
    assert fields["email"] == "ada@example.org" and fields["channel"] == "chat"
    assert "reply_token" not in fields  # it would let its holder answer as the contributor
    [card] = record["cards"]
    assert card["version"] == 1 and card["current"] is True
    assert card["filename"] == "ocean_card.md" and "content" not in card
    assert (tmp_path / "out" / card["file"]).read_bytes() == CARD.read_bytes()
    assert card["report"]["verdict"] in ("passes", "problems")
    actions = [entry["action"] for entry in record["history"]]
    assert "submitted" in " ".join(actions)
    assert any(entry["to_state"] == "submitted" for entry in record["history"])
    assert record["messages"], "the review thread's message waits in the outbox"
    assert all("payload" in message and "status" in message
               for message in record["messages"])

    again = await run("submissions", "export", "OTDI-0001", "--to", "out", cwd=tmp_path,
                      db=db)
    assert again.returncode == 1 and "exists and is not empty" in again.stdout
    missing = await run("submissions", "export", "OTDI-0099", cwd=tmp_path, db=db)
    assert missing.returncode == 1 and "No submission OTDI-0099" in missing.stdout
    assert not (tmp_path / "OTDI-0099").exists()
    default = await run("submissions", "export", "OTDI-0001", cwd=tmp_path, db=db)
    assert default.returncode == 0 and (tmp_path / "OTDI-0001" / "record.json").exists()
