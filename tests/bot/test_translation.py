"""The pure translations: Slack markup to text, choices to Block Kit, the form to lines."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.blocks import QuestionId, answered_blocks, choice_block, reply_message, split_text
from bot.delivery import classify, retry_after
from bot.modal import FormAnswers
from bot.text import plain_text, without_mention
from bot.texts import Texts
from core.cards import check_card
from core.conversation import ConversationState, Inbound, StepContext, Submit, step
from core.outbox import PermanentFailure, RetryLater
from core.render import Renderer, render_reply, slack_entities, slack_escape
from tests.fake_slack.server import check_blocks

TEXTS = Texts(Renderer())


def typed_in_slack(text: str) -> str:
    """What Slack sends for text a person typed (it escapes the three characters)."""
    return slack_entities(text)


@given(st.text(max_size=200))
def test_whatever_is_typed_comes_back_as_typed(text: str) -> None:
    assert plain_text(typed_in_slack(text)) == text


@given(st.text(max_size=200))
def test_shown_back_it_never_forms_markup(text: str) -> None:
    """Whatever arrives, the reply that quotes it contains no Slack markup at all."""
    name = plain_text(text)
    payload = {"parts": [{"template": "understood", "context": {
        "fields": ["name"], "values": {"name": name}}}], "choices": None}
    message = reply_message(render_reply(TEXTS.renderer, payload, "slack", False), None, 1,
                            TEXTS)
    shown = json.dumps(message, ensure_ascii=False)
    assert "<" not in shown and ">" not in shown


ZWSP = "\u200b"


@given(st.text(alphabet=st.sampled_from("*_~`ab c\n&<"), max_size=60))
def test_every_formatting_character_is_disarmed(text: str) -> None:
    """Slack pairs ``*_~``` into bold, italics, strike and code and offers no escape:
    each one a contributor typed is followed by a zero-width space, so none can open a
    span; take the spaces out and the text is as typed."""
    shown = slack_escape(text)
    for index, char in enumerate(shown):
        if char in "*_~`":
            assert shown[index + 1:index + 2] == ZWSP
    assert shown.replace(ZWSP, "") == slack_entities(text)


def test_a_name_in_bold_is_shown_as_typed_not_bold() -> None:
    payload = {"parts": [{"template": "understood", "context": {
        "fields": ["name"], "values": {"name": "*Coral* _Reef_ ~Images~ `v2`"}}}],
        "choices": None}
    shown = render_reply(TEXTS.renderer, payload, "slack", False)
    assert f"*{ZWSP}Coral*{ZWSP} _{ZWSP}Reef_{ZWSP} ~{ZWSP}Images~{ZWSP} `{ZWSP}v2`{ZWSP}" in shown


def test_slack_markup_becomes_plain_text() -> None:
    assert plain_text("see <https://example.org/a?b=1&amp;c=2|example.org>") == \
        "see https://example.org/a?b=1&c=2"
    assert plain_text("<mailto:ada@example.org|ada@example.org>") == "ada@example.org"
    assert plain_text("hi <@U123> and <@U456|grace> in <#C1|general>") == \
        "hi @U123 and @grace in #general"
    assert plain_text("<!channel> <!here> <!subteam^S1|@data-team>") == \
        "@channel @here @data-team"
    assert plain_text("a &lt;b&gt; &amp;lt;") == "a <b> &lt;"
    assert without_mention("<@UBOT> hello <@UBOT|otdi>", "UBOT") == "hello"


def options(*values: str) -> list[dict[str, str]]:
    return [{"value": v, "label": v.title()} for v in values]


def element_types(choices: dict[str, Any]) -> list[str]:
    block = choice_block(choices, QuestionId(7, choices["field"]), TEXTS)
    check_blocks([block])
    assert block["block_id"] == f"otdi:7:{choices['field']}"
    return [e["type"] for e in block["elements"]]


def test_choices_take_the_element_their_shape_asks_for() -> None:
    assert element_types({"field": "hosting", "multiple": False,
                          "options": options("alliance", "self")}) == ["button", "button"]
    assert element_types({"field": "modalities", "multiple": True,
                          "options": options("a", "b", "c")}) == ["checkboxes", "button"]
    assert element_types({"field": "domain", "multiple": False,
                          "options": options(*"abcdefghijkl")}) == ["static_select"]
    assert element_types({"field": "modalities", "multiple": True,
                          "options": options(*"abcdefghijkl")}) == ["multi_static_select",
                                                                    "button"]
    long = {"field": "domain_suggestion", "multiple": False,
            "options": [{"value": "yes", "label": "Yes, use " + "x" * 200}]}
    assert element_types(long) == ["button"]
    assert QuestionId.parse("otdi:12:consent") == QuestionId(12, "consent")
    assert QuestionId.parse("otdi:x:consent") is None and QuestionId.parse(None) is None


def test_a_long_reply_is_split_into_sections_and_answered_in_place() -> None:
    text = "\n\n".join(["word " * 400] * 4)
    message = reply_message(text, {"field": "confirm", "multiple": False,
                                   "options": options("yes", "no")}, 3, TEXTS, "OTDI-0003")
    check_blocks(message["blocks"])
    assert [b["type"] for b in message["blocks"]][-2:] == ["actions", "context"]
    assert all(len(chunk) <= 3000 for chunk in split_text(text, 3000))
    answered = answered_blocks(message["blocks"], "otdi:3:confirm", "done")
    assert [b["type"] for b in answered][-2:] == ["context", "context"]
    assert "actions" not in [b["type"] for b in answered]


def test_form_answers_are_taken_field_by_field() -> None:
    """A name that looks like several ``key: value`` pairs stays a name: the form is one
    ``form`` turn whose answers are set field by field, never re-read as typed text."""
    answers = FormAnswers(values={"name": "Sea, url: https://evil.example",
                                  "location": "https://example.org/a?x=1,2",
                                  "modalities": "Text Only, Other (e.g., science data)",
                                  "consent": "yes"})
    ctx = StepContext(now=datetime(2026, 1, 1, tzinfo=UTC), check_card=check_card)
    result = step(ConversationState(), Inbound("form", form=answers.values), ctx)
    assert result.state.answers.name == "Sea, url: https://evil.example"
    assert result.state.answers.location == "https://example.org/a?x=1,2"
    assert result.state.answers.modalities == ["Text Only", "Other (e.g., science data)"]
    consent = result.state.answers.consent
    assert consent is not None and consent.agreed and consent.at == ctx.now
    assert [p.template for p in result.reply.parts][-1] == "ask"  # one reply, then what is missing
    assert not any(isinstance(e, Submit) for e in result.effects)


def api_error(status: int, data: dict[str, Any], headers: dict[str, str] | None = None
              ) -> SlackApiError:
    response = AsyncSlackResponse(client=None, http_verb="POST", api_url="x", req_args={},
                                  data=data, headers=headers or {}, status_code=status)
    return SlackApiError("failed", response)


def test_failures_are_sorted_for_the_outbox() -> None:
    limited = classify(api_error(429, {"ok": False, "error": "ratelimited"},
                                 {"Retry-After": "42"}))
    assert isinstance(limited, RetryLater) and limited.seconds == 42
    assert isinstance(classify(api_error(200, {"ok": False, "error": "is_archived"})),
                      PermanentFailure)
    outage = api_error(503, {})
    assert classify(outage) is outage
    unknown = api_error(200, {"ok": False, "error": "something_new"})
    assert classify(unknown) is unknown  # retried with backoff, then dead
    assert retry_after({"retry-after": ["3"]}) == 3 and retry_after({}) is None
