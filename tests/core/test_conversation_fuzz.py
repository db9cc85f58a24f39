"""No text, however odd, crashes the conversation or loses an earlier answer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from core.cards import check_card
from core.conversation import Audit, CardFile, ConversationState, Inbound, StepContext, step
from core.render import Renderer, render_reply

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()
CTX = StepContext(now=datetime(2026, 11, 25, tzinfo=UTC), check_card=check_card)
RENDERER = Renderer()

ODD_TEXT = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Zs", "So", "Mn"])),
    st.sampled_from(["\u202eesrever", "\U0001f600" * 500, "\x00\x01\x02", "a" * 100_000,
                     "change", "change the", "name:", ":::", ",,,", "1, 99", "0", "yes?",
                     "domain: ", "card: https://", "help me", "\r\n\r\n", "<!channel>"]),
)


def _answered_state() -> ConversationState:
    state = ConversationState()
    for event in [Inbound(text="hello"), Inbound(text="name: Ocean, url: https://e.org/o"),
                  Inbound(text="hosting: no, modalities: text, domain: marine"),
                  Inbound("file", file=CardFile("README.md", CARD))]:
        state = step(state, event, CTX).state
    return state


START = _answered_state()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(ODD_TEXT, min_size=1, max_size=4))
@example(texts=["START OVER", ""])
@example(texts=["change hosting", "\u202e", "change the card"])
def test_odd_text_never_crashes_or_loses_answers(texts: list[str]) -> None:
    state = START
    discarded = False
    for text in texts:
        result = step(state, Inbound(text=text), CTX)
        rendered = render_reply(RENDERER, result.reply.to_dict(), "text")
        assert rendered.strip(), "every message gets an answer"
        # Earlier answers stay unless the contributor deliberately restarted or cancelled
        # (the conversation records that in the audit log).
        discarded = discarded or any(
            isinstance(effect, Audit) and effect.action in (
                "conversation.restarted", "conversation.cancelled")
            for effect in result.effects)
        if not discarded:
            for key in ("card", "hosting", "location"):
                assert key in result.state.answers, (texts, key)
        state = result.state
        ConversationState.model_validate(state.model_dump(mode="json"))


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=4096), name=st.text(max_size=300))
def test_any_file_is_answered(data: bytes, name: str) -> None:
    result = step(START, Inbound("file", file=CardFile(name or "x", data)), CTX)
    assert render_reply(RENDERER, result.reply.to_dict(), "text").strip()
    assert result.state.answers.name == "Ocean"
