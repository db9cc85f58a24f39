"""Words typed with the form's command pre-fill only what they plainly answer."""

from __future__ import annotations

import pytest

from core.conversation.form import prefill_from_text


@pytest.mark.parametrize(("typed", "expected"), [
    ("", {}),
    ("hello", {}),
    ("Ocean Temperatures https://example.org/ocean",
     {"name": "Ocean Temperatures", "location": "https://example.org/ocean"}),
    ("https://example.org/ocean", {"location": "https://example.org/ocean"}),
    ("Ocean Temperatures, https://example.org/ocean, ada@example.org",
     {"name": "Ocean Temperatures", "location": "https://example.org/ocean",
      "email": "ada@example.org"}),
    ("name: Coral, domain: marine, modalities: text and images, hosting: yes",
     {"name": "Coral", "domain": {"value": "Marine", "is_suggestion": False},
      "modalities": ["Text Only", "Images"], "hosting": "alliance"}),
    ("Marine Images http://example.org/x",  # the http link is not taken; no domain guess
     {"name": "Marine Images"}),
])
def test_prefill(typed: str, expected: dict[str, object]) -> None:
    assert prefill_from_text(typed) == expected
