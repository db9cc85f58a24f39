"""Property: whatever is said, in any order, nothing is stored that the contributor did not
type for that field or confirm, and consent only ever answers terms that were shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.cards import check_card
from core.conversation import (
    CardFile,
    ConversationState,
    DomainAnswer,
    Inbound,
    StepContext,
    step,
)
from core.conversation.interpret import yes_or_no
from core.conversation.model import stored_form
from core.fields import FIELD_ORDER, FieldError, parse_field

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()
CTX = StepContext(now=datetime(2026, 11, 25, tzinfo=UTC), check_card=check_card)

UTTERANCES = [
    "hello", "yes", "no", "yep", "right", "nope", "1", "2", "I agree", "terms: sure",
    "consent: yes", "yes, I agree", "cancel", "undo", "restart", "status", "summary",
    "Hi! My dataset is called Coral Reef Images and you can find it at http://example.org/coral",
    "Coral Reef Images, https://example.org/coral",
    "I have photos and audio recordings of whales, please host it",
    "we'll keep it ourselves", "it's about the ocean", "Ocean Temperatures",
    "Actually no - change the domain to Marine",
    "wait, the name is wrong, it should just be Coral Reefs",
    "oh right, it's dana@example.org", "oops sorry, https://example.org/right",
    "I meant Legal", "no, it's https://huggingface.co/datasets/lab/coral",
    "name: Buoys, url: https://example.org/buoys, hosting: no",
    "modalities: text, domain: climate, email: ada@example.org",
    "change the email to sam@example.org", "make the name Atlantic Buoys",
    "https://example.org/plain", "sam@example.org", "text and images", "Astrophysics",
    "the card is attached", "Sure, here it is: https://example.org/d", "0", "Ocean",
    "cancel", "cancel", "yes, but the name is Reefs", "no, the name is Reefs",
]
MESSAGE = st.one_of(st.sampled_from(UTTERANCES), st.text(max_size=40),
                    st.just("<card>"))


def _event(text: str) -> Inbound:
    if text == "<card>":
        return Inbound("file", file=CardFile("README.md", CARD))
    return Inbound(text=text)


def _stored(field: str, text: str) -> Any:
    try:
        return stored_form(field, parse_field(field, text))
    except FieldError:
        return None


def _keyword(field: str) -> str:
    return {"name": r"\bname\b|\btitle\b", "location": r"url|location|link",
            "hosting": r"host", "modalities": r"modalit", "domain": r"domain",
            "email": r"e-?mail|contact"}[field]


def _typed(field: str, value: Any, text: str, before: ConversationState) -> bool:
    """Whether ``value`` for ``field`` comes from what was typed, for that field."""
    said = " ".join(text.casefold().split())
    for_field = before.asking == field or bool(re.search(_keyword(field), said)) or (
        field == "domain" and before.asking in ("domain_other", "domain_suggestion"))
    letters = re.sub(r"\W+", "", said)  # control characters are dropped on the way in
    if field == "name":
        return for_field and re.sub(r"\W+", "", str(value).casefold()) in letters
    if field in ("location", "email"):
        shown = str(value).casefold().removeprefix("https://")
        return re.sub(r"\W+", "", shown) in letters
    return for_field


def _confirmed(field: str, value: Any, text: str, before: ConversationState) -> bool:
    """Whether ``value`` was shown to the contributor and ``text`` said yes to it."""
    if yes_or_no(text) is not True and text not in ("1",):
        return False
    shown: list[Any] = []
    if before.proposal is not None and field in before.proposal.values:
        shown.append(_stored(field, before.proposal.values[field]))
    if before.suggestion and before.suggestion.get("field") == field:
        shown.append(_stored(field, before.suggestion["value"]))
    if field == "domain" and before.pending_domain:
        shown.append(DomainAnswer(value=before.pending_domain, is_suggestion=True))
    if field == "email" and before.suggested_email:
        shown.append(before.suggested_email)
    return value in shown


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages=st.lists(MESSAGE, min_size=1, max_size=12))
@example(messages=["terms: sure", "yes"])
@example(messages=["name: X, url: https://example.org/x, hosting: no, modalities: text, "
                   "domain: legal, email: a@example.org, consent: yes", "<card>", "yes"])
@example(messages=["Coral Reef Images, https://example.org/coral", "no, the name is Reefs",
                   "yes", "cancel", "yes", "undo", "undo"])
@example(messages=["I agree", "I agree", "yes"])
def test_every_answer_was_typed_for_its_field_or_confirmed(messages: list[str]) -> None:
    state = ConversationState()
    accepted: dict[str, list[Any]] = {field: [] for field in FIELD_ORDER}
    terms_shown = False  # in the reply just before
    for text in messages:
        result = step(state, _event(text), CTX)
        for field in FIELD_ORDER:
            value = result.state.answers.get(field)
            if field == "card" or value is None or value == state.answers.get(field):
                continue
            if field == "consent":
                assert terms_shown or value in accepted[field], (messages, text)
            elif value not in accepted[field]:  # an undo brings back an earlier answer
                assert _typed(field, value, text, state) or _confirmed(
                    field, value, text, state), (messages, text, field, value)
            accepted[field].append(value)
        terms_shown = any(part.template == "ask" and part.context.get("field") in (
            "consent", "consent_confirm") for part in result.reply.parts)
        state = result.state
        ConversationState.model_validate(state.model_dump(mode="json"))
