"""Reviewer decisions: transitions, who may decide, one decision per click, who is told."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from core.review import Decision, ReviewDesk, Reviewer, parse_decision
from core.storage.database import Database
from core.storage.models import AuditEntry, OutboxMessage, Submission
from tests.core.test_conversation import complete_up_to_confirm
from tests.core.transcript import Transcript, make_service

REVIEWER = Reviewer("U_REVIEWER", "slack", name="Rita")


@pytest.fixture
async def submitted(db: Database) -> Transcript:
    chat = Transcript(make_service(db))
    await complete_up_to_confirm(chat)
    await chat.say("yes")
    return chat


async def _outbox(db: Database, channel: str) -> list[dict]:
    async with db.transaction() as session:
        rows = await session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == channel).order_by(OutboxMessage.id))
        return [row.payload for row in rows]


async def _status(db: Database) -> str:
    async with db.transaction() as session:
        return (await session.scalar(select(Submission))).status


async def test_approval_tells_the_contributor_what_happens_next(db, submitted) -> None:
    desk = ReviewDesk(db)
    await desk.thread_opened("OTDI-0001", {"channel": "C1", "ts": "1.0"})
    assert await _status(db) == "in_review"
    result = await desk.decide("OTDI-0001", REVIEWER, Decision.APPROVE, is_reviewer=True)
    assert result.applied and result.status == "approved"
    told = (await _outbox(db, "chat"))[-1]
    assert told["parts"][0]["template"] == "decision_approved"
    from core.render import Renderer, render_reply

    text = render_reply(Renderer(), told, "text")
    assert "approved" in text and "Marine" in text and "Text Only" in text
    assert "uploading the data to Alliance hosting" in text  # they chose Alliance hosting
    thread = (await _outbox(db, "review"))[-1]
    assert thread["kind"] == "review.status" and thread["status"] == "approved"


async def test_only_reviewers_and_never_the_contributor(db, submitted) -> None:
    desk = ReviewDesk(db)
    stranger = await desk.decide("OTDI-0001", Reviewer("U_X", "slack"), Decision.APPROVE,
                                 is_reviewer=False)
    assert not stranger.applied and stranger.refused == "review_refused_not_reviewer"
    own = await desk.decide("OTDI-0001", Reviewer("ada", "chat"), Decision.APPROVE,
                            is_reviewer=True)
    assert own.refused == "review_refused_own_submission"
    by_mail = await desk.decide("OTDI-0001", Reviewer("ada@example.org", "mail",
                                                      email="Ada@Example.org"),
                                Decision.REJECT, "no", is_reviewer=True)
    assert by_mail.refused == "review_refused_own_submission"
    assert await _status(db) == "submitted"


async def test_two_clicks_at_once_give_one_decision(db, submitted) -> None:
    desk = ReviewDesk(db)
    other = Reviewer("U_OTHER", "slack", name="Otto")
    results = await asyncio.gather(
        desk.decide("OTDI-0001", REVIEWER, Decision.APPROVE, is_reviewer=True),
        desk.decide("OTDI-0001", other, Decision.APPROVE, is_reviewer=True),
        desk.decide("OTDI-0001", REVIEWER, Decision.APPROVE, is_reviewer=True))
    assert sum(r.applied for r in results) == 1
    refused = [r for r in results if not r.applied]
    assert {r.refused for r in refused} == {"review_refused_already_decided"}
    assert all(r.decided_by in ("Rita", "Otto") for r in refused)
    approvals = [p for p in await _outbox(db, "chat")
                 if p["parts"][0]["template"] == "decision_approved"]
    assert len(approvals) == 1
    async with db.transaction() as session:
        decided = (await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "review.approve"))).all()
    assert len(decided) == 1


async def test_changes_round_trip_with_a_corrected_card(db, submitted) -> None:
    desk = ReviewDesk(db)
    result = await desk.decide("OTDI-0001", REVIEWER, Decision.CHANGES,
                               "Please fill in the consent section.", is_reviewer=True)
    assert result.status == "changes_requested"
    answer = await submitted.upload("README.md", b"---\nlicense: mit\n---\n# Fixed\n")
    assert "new version" in answer
    assert await _status(db) == "resubmitted"
    relay = (await _outbox(db, "review"))[-1]
    assert relay["kind"] == "review.relay" and relay["filename"] == "README.md"
    assert relay["report"]["verdict"] == "problems"
    answer = await submitted.say("I also fixed the licence.")
    assert "passed your message on" in answer
    relay = (await _outbox(db, "review"))[-1]
    assert relay["text"] == "I also fixed the licence."


async def test_texts_are_required_where_they_matter(db, submitted) -> None:
    desk = ReviewDesk(db)
    for decision in (Decision.CHANGES, Decision.REJECT, Decision.ASK):
        result = await desk.decide("OTDI-0001", REVIEWER, decision, "  ", is_reviewer=True)
        assert result.refused == "review_refused_needs_text"
    asked = await desk.decide("OTDI-0001", REVIEWER, Decision.ASK, "Who made it?",
                              is_reviewer=True)
    assert asked.applied and asked.status == "submitted"  # a question changes no state


async def test_withdraw(db, submitted) -> None:
    answer = await submitted.say("withdraw")
    assert "withdrawn" in answer
    assert await _status(db) == "withdrawn"
    result = await ReviewDesk(db).decide("OTDI-0001", REVIEWER, Decision.APPROVE,
                                         is_reviewer=True)
    assert result.refused == "review_refused_already_decided"


@pytest.mark.parametrize(("text", "expected"), [
    ("approve", (Decision.APPROVE, "")),
    ("Approve.\n\nLooks great", (Decision.APPROVE, "Looks great")),
    ("changes: fill in the consent section", (Decision.CHANGES, "fill in the consent section")),
    ("Request changes: a\nb", (Decision.CHANGES, "a\nb")),
    ("REJECT: crawled data", (Decision.REJECT, "crawled data")),
    ("ask: who owns it?", (Decision.ASK, "who owns it?")),
    ("I think we should approve", None),
    ("", None),
])
def test_parse_decision(text: str, expected: tuple[Decision, str] | None) -> None:
    assert parse_decision(text) == expected
