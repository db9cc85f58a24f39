"""The answers are a typed model; conversation states stored when they were a plain dict
(with ``card_url`` and ``card_from_location`` among the fields) still load and go on."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from core.cards import check_card
from core.conversation import (
    Answers,
    ConsentAnswer,
    ConversationState,
    DomainAnswer,
    Inbound,
    Phase,
    StepContext,
    step,
)
from core.fields import FIELD_ORDER
from core.storage.models import Conversation, Submission
from mail.compose import missing_fields
from tests.core.transcript import Transcript, make_service

CTX = StepContext(now=datetime(2026, 11, 25, 9, 30, tzinfo=UTC), check_card=check_card)

# A conversation saved by the code before ``Answers``: everything answered, the card being
# fetched from a URL kept inside the answers, and a key no version knows any more.
OLD_STATE: dict[str, Any] = {
    "phase": "confirming", "asking": "confirm", "turns": 9,
    "answers": {"name": "Ocean Temperatures", "location": "https://example.org/ocean",
                "hosting": "self", "modalities": ["Text Only"],
                "domain": {"value": "Marine", "is_suggestion": False},
                "email": "ada@example.org",
                "consent": {"agreed": True, "at": "2026-11-20T08:00:00+00:00"},
                "card_url": "https://huggingface.co/datasets/lab/ocean/raw/main/README.md",
                "card_from_location": True, "legacy_note": "dropped"},
    "card": None, "pending_domain": None, "suggestion": None, "offered": ["yes", "no"],
    "suggested_email": None, "card_errors_acknowledged": False, "reference": "OTDI-0001",
    "submission_id": None,
}


def test_one_attribute_per_form_field() -> None:
    assert list(Answers.model_fields) == list(FIELD_ORDER)


def test_answers_are_validated() -> None:
    with pytest.raises(ValidationError):
        Answers.model_validate({"name": "X", "card_url": "https://example.org"})  # no field
    with pytest.raises(ValidationError):
        Answers(domain={"value": "Marine", "is_suggestion": False, "extra": 1})
    answers = Answers()
    with pytest.raises(ValidationError):
        answers.modalities = "Text Only"  # type: ignore[assignment]  # a list, not a str
    with pytest.raises(ValidationError):
        answers.consent = {"agreed": True}  # type: ignore[assignment]  # when is required


def test_only_given_answers_are_stored() -> None:
    answers = Answers(name="Ocean", domain=DomainAnswer(value="Marine"))
    assert answers.model_dump(mode="json") == {
        "name": "Ocean", "domain": {"value": "Marine", "is_suggestion": False}}
    assert answers.given() == ["name", "domain"]
    assert "name" in answers and "location" not in answers and "confirm" not in answers
    assert answers.get("domain") == DomainAnswer(value="Marine")
    with pytest.raises(KeyError):
        answers.get("card_url")
    assert Answers.model_validate(answers.model_dump(mode="json")) == answers


def test_a_state_stored_with_the_old_answers_dict_loads() -> None:
    state = ConversationState.model_validate(OLD_STATE)
    assert state.card_url == OLD_STATE["answers"]["card_url"]
    assert state.card_from_location is True
    assert state.answers.given() == [f for f in FIELD_ORDER if f != "card"]
    assert state.answers.domain == DomainAnswer(value="Marine", is_suggestion=False)
    assert state.answers.consent == ConsentAnswer(at=datetime(2026, 11, 20, 8, tzinfo=UTC))
    assert state.missing() == []  # the card is being fetched
    dumped = state.model_dump(mode="json")
    assert "card_url" not in dumped["answers"] and "legacy_note" not in dumped["answers"]
    assert dumped["card_url"] == OLD_STATE["answers"]["card_url"]
    assert ConversationState.model_validate(dumped) == state  # the new shape loads too
    assert missing_fields(OLD_STATE) == [] and missing_fields({}) == list(FIELD_ORDER)


def test_an_old_undo_snapshot_brings_its_card_url_back() -> None:
    """Undo snapshots are stored states too: an old one restores the card URL."""
    before = {**OLD_STATE, "answers": {"name": "Ocean",
                                       "card_url": "https://example.org/README.md"},
              "phase": "collecting", "asking": "location"}
    state = ConversationState(phase=Phase.COLLECTING, answers=Answers(name="Ocean"),
                              undo=[before])
    result = step(state, Inbound(text="undo"), CTX)
    assert result.state.card_url == "https://example.org/README.md"
    assert result.state.answers == Answers(name="Ocean")


async def test_an_old_row_in_the_database_is_submitted(db) -> None:
    """A conversation saved the old way, waiting for "yes": the yes submits it, with the
    card URL and the consent time the old row kept."""
    chat = Transcript(make_service(db))
    async with db.transaction() as session:
        session.add(Conversation(channel="chat", contributor_id="ada", state=OLD_STATE))
    answer = await chat.say("yes")
    assert "OTDI-0001" in answer
    async with db.transaction() as session:
        submission = await session.scalar(select(Submission))
    assert submission is not None
    assert submission.card_url == OLD_STATE["answers"]["card_url"]
    consent_at = submission.consent_at
    if consent_at.tzinfo is None:  # SQLite keeps no zone; the column is UTC
        consent_at = consent_at.replace(tzinfo=UTC)
    assert consent_at == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert (submission.domain, submission.domain_is_suggestion) == ("Marine", False)
    state = await chat.state()
    assert state.phase is Phase.SUBMITTED and state.answers.name == "Ocean Temperatures"
