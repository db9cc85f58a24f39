"""Reading a reply to a confirmation request: only a clear yes applies the held change."""

from __future__ import annotations

import pytest

from core.trust import confirms


@pytest.mark.parametrize("reply", [
    "confirm", "Confirm\n\nAlice", "CONFIRMED!", "Yes, confirm.", "I confirm",
    "Confirm, thanks - Alice\n\nSent from my iPhone", "yes", "OK", "Yes please",
    "\n\n  yes it was me\n> On Monday the intake wrote:\n> reply confirm",
])
def test_a_clear_yes_confirms(reply: str) -> None:
    assert confirms(reply)


@pytest.mark.parametrize("reply", [
    "Confirmation of what?", "confirm?", "Yes, but I did not send that", "I don't confirm",
    "no", "Not me", "yes, and also change the name to Ocean Data", "okay, who is this",
    "", "> confirm", "Never confirm",
])
def test_a_question_a_denial_or_more_than_yes_confirms_nothing(reply: str) -> None:
    assert not confirms(reply)
