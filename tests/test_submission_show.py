"""``intake submissions show REF`` prints every kind of audit row the code writes.

It used to crash (Jinja ``UndefinedError``) on the row a ``change`` leaves
(``field.change_requested`` has a field but no value). The actions are found in the
source itself, so a kind of row added later is rendered here too, with its real detail
where we know it and with an odd one (missing keys, None, nesting) either way.
"""

from __future__ import annotations

import io
import re
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core import reports
from core.render import Renderer
from core.review import Decision
from core.storage.database import Database
from core.storage.models import AuditEntry, OutboxMessage, Submission
from tests.core.transcript import Transcript, make_service

ROOT = Path(__file__).resolve().parent.parent
CARD = (ROOT / "tests" / "data" / "ocean_card.md").read_bytes()
NOT_AUDIT = {"store_true", "store_false", "store", "append", "count"}  # argparse
_LITERAL = re.compile(r'"([a-z_]+(?:\.[a-z_]+)*)"(?!\s*:)')


def actions_in_source() -> set[str]:
    """Every audit action a ``audit(...)``, ``Audit(...)`` or ``action=...`` names."""
    found: set[str] = set()
    for package in ("core", "mail", "bot", "desk"):
        for path in (ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            for match in re.finditer(r'\b(?:audit|Audit)\(\s*"([\w.]+)"', source):
                found.add(match.group(1))
            for match in re.finditer(r"\baction\s*=\s*([^\n]+(?:\n\s+[^\n=]+)?)", source):
                found.update(_LITERAL.findall(match.group(1)))
            if 'f"review.{decision}"' in source:
                found.update(f"review.{d}" for d in Decision)
    return {a for a in found if a not in NOT_AUDIT and ("." in a or a in (
        "submitted", "withdrawn"))}


SAMPLES: dict[str, dict[str, Any]] = {
    "conversation.started": {},
    "conversation.restarted": {"after": "OTDI-0001"},
    "conversation.cancelled": {"answers": ["location", "name"]},
    "field.set": {"field": "domain", "value": {"value": "Marine", "is_suggestion": True},
                  "previous": None},
    "field.change_requested": {"field": "name"},
    "card.fetch_requested": {"url": "https://example.org/README.md"},
    "card.received": {"filename": "README.md", "sha256": "ab" * 32, "verdict": "passes"},
    "submitted": {"reference": "OTDI-0001"},
    "withdrawn": {},
    "contributor.message": {"text": "Here is\nthe new card", "filename": "README.md"},
    "review.thread_opened": {"channel": "C0REVIEW", "ts": "1700000000.000100"},
    "mail.reply_suppressed": {"recipient": "ada@example.org", "outbox_id": 7,
                              "limit_per_hour": 6},
    "mail.automated_ignored": {"reason": "auto-submitted", "message_id": "<a@b>",
                               "subject": "Out of office"},
    "mail.stranger_refused": {"conversation": "ada@example.org", "matched_by": "thread",
                              "message_id": "<s@x>"},
    "mail.bounced": {"recipients": ["ada@example.org"], "status": "5.1.1",
                     "diagnostic": "user unknown", "action": "failed",
                     "message_id": "<o@t>", "contributor": "ada@example.org"},
    "mail.bounce_unmatched": {"recipients": ["x@example.org"], "status": "5.0.0",
                              "diagnostic": None, "action": "failed", "message_ids": []},
    "mail.review_recipients_refused": {"refused": {"rita@alliance.test": "550 no"},
                                       "message_id": "<r@t>"},
    "mail.review_comment": {"text": "Looks fine to me", "message_id": "<c@t>"},
    "mail.review_outsider": {"message_id": "<o@t>", "matched_by": "token", "told": True},
}
ODD = {"field": "name", "text": None, "nested": {"a": {"b": [1, None]}}, "items": [],
       "value": None, "filename": None, "zahl": 3.5}


def show(db: Database, reference: str = "OTDI-0001") -> Any:
    async def run() -> tuple[int, str]:
        out = io.StringIO()
        with redirect_stdout(out):
            code = await reports.print_show(db, Renderer(), reference)
        return code, out.getvalue()

    return run()


async def test_a_submission_whose_contributor_used_change_is_shown(db: Database) -> None:
    chat = Transcript(make_service(db))
    await chat.say("name: Ocean")
    await chat.say("https://example.org/ocean")
    await chat.say("yes")
    await chat.upload("README.md", CARD)
    await chat.say("text")
    assert "What should it be instead?" in await chat.say("change name")
    await chat.say("Ocean Temperatures")
    await chat.say("Marine")
    await chat.say("ada@example.org")
    await chat.say("yes, I agree")
    assert "submitted as OTDI-0001" in await chat.say("yes")
    code, shown = await show(db)
    assert code == 0
    assert "field.change_requested" in shown and "change of name asked" in shown
    assert "name = Ocean Temperatures (was Ocean)" in shown
    assert "as OTDI-0001" in shown
    # The draft's replies are part of the story: all eleven, and the review thread's.
    assert len([line for line in shown.splitlines() if "to chat:ada" in line]) == 11


async def test_every_audit_action_the_code_writes_is_readable(db: Database) -> None:
    actions = actions_in_source()
    assert {"field.set", "field.change_requested", "mail.reply_suppressed",
            "review.approve", "review.thread_opened", "submitted",
            "contributor.message", "mail.bounced"} <= actions  # the scan sees them
    chat = Transcript(make_service(db))
    await chat.say("name: Ocean")
    async with db.transaction() as session:
        submission = Submission(
            reference="OTDI-0001", status="in_review", name="Ocean", location="https://x.org",
            hosting="self", modalities=["Text Only"], domain="Marine", email="a@b.org",
            consent_at=datetime(2026, 12, 1, tzinfo=UTC), channel="chat",
            contributor_id="ada", reply_token="t" * 24)
        session.add(submission)
        await session.flush()
        for action in sorted(actions):
            for detail in (SAMPLES.get(action, {"text": "a reviewer's words"}), ODD):
                session.add(AuditEntry(submission_id=submission.id, actor="someone",
                                       channel="mail", action=action, detail=detail,
                                       created_at=datetime(2026, 12, 1, tzinfo=UTC)))
        session.add(AuditEntry(submission_id=submission.id, actor="old", channel="chat",
                               action="field.set", detail=None,
                               created_at=datetime(2026, 12, 1, tzinfo=UTC)))
        session.add(OutboxMessage(channel="mail", recipient="ada@example.org",
                                  submission_id=submission.id, status="suppressed",
                                  payload={"guard": {"heard": "x", "new": False,
                                                     "repeats_sent": 6, "limit": 6}}))
    code, shown = await show(db)
    assert code == 0
    for action in actions:
        assert sum(1 for line in shown.splitlines() if f"  {action} " in line) >= 2, action
    for expected in ("domain = Marine (suggestion)", "change of name asked",
                     "2 answer(s) set aside: location, name", "as OTDI-0001",
                     '"Here is the new card"  [README.md]', "in C0REVIEW at 1700000000.000100",
                     "reply #7 to ada@example.org held back, not sent",
                     "delivery report: failed 5.1.1 for ada@example.org (user unknown)",
                     "the relay refused rita@alliance.test",
                     "no answer to an automated message (auto-submitted)",
                     "suppressed, never sent (the loop guard: it answered nothing new, "
                     "after 6 such replies within an hour, limit 6)"):
        assert expected in shown, expected
    assert "nested: a=b=1, None" in shown  # an unknown shape still says what it holds


async def test_an_unknown_reference_is_not_found(db: Database) -> None:
    code, shown = await show(db, "OTDI-0404")
    assert code == 1 and "OTDI-0404" in shown
    async with db.transaction() as session:
        assert (await session.scalars(select(Submission))).first() is None


async def test_a_draft_is_found_by_the_reference_its_replies_carry(db: Database) -> None:
    chat = Transcript(make_service(db))
    await chat.say("name: Ocean")
    await chat.say("change name")
    code, shown = await show(db)
    assert code == 0 and "OTDI-0001  (a draft, not submitted)" in shown
    assert "Contributor:    ada via chat" in shown and "Answered:       " in shown
    assert "name = Ocean" in shown and "change of name asked" in shown
    assert len([line for line in shown.splitlines() if "to chat:ada  sent" in line]) == 2
