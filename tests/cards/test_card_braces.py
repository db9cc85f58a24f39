"""Values filled in but left inside the template's curly braces (``pretty_name: {Ocean}``).

YAML reads ``{Ocean}`` as a one-key mapping, so the card's metadata is not what its
author wrote; seen in public cards (card-hansard.md in the corpus) that filled the Hub
template by typing inside its ``{placeholders}``.
"""

from __future__ import annotations

import re
from pathlib import Path

from core.cards import check_card
from tests.cards.card_texts import valid_card

HANSARD = Path(__file__).parent.parent / "data" / "cards" / "real" / "card-hansard.md"


def _findings(card: str) -> list[tuple[str, str, str]]:
    report = check_card(card.encode(), "README.md")
    return [(f.severity, f.field, f.code) for f in report.findings]


def test_a_required_value_in_braces_is_an_error_that_says_how_to_write_it() -> None:
    card = re.sub(r"(?m)^pretty_name:.*$", "pretty_name: {Ocean Temperature Readings}",
                  valid_card())
    report = check_card(card.encode(), "README.md")
    [finding] = report.errors
    assert (finding.field, finding.code) == ("pretty_name", "yaml_value_in_braces")
    assert '"{Ocean Temperature Readings}"' in finding.message
    assert finding.hint == 'Take the braces off: "pretty_name: Ocean Temperature Readings".'


def test_an_item_in_braces_of_another_field_is_a_warning() -> None:
    card = valid_card().replace("---\n", "---\ntags:\n- climate\n- {oceanography}\n", 1)
    assert _findings(card) == [("warning", "tags", "yaml_value_in_braces")]


def test_the_templates_own_placeholder_is_a_leftover_not_a_value() -> None:
    card = re.sub(r"(?m)^pretty_name:.*$", "pretty_name: {pretty_name}", valid_card())
    assert _findings(card) == [("error", "pretty_name", "yaml_field_placeholder")]


def test_a_broken_front_matter_of_braces_names_the_values_to_unwrap() -> None:
    report = check_card(HANSARD.read_bytes(), "README.md")
    first = report.errors[0]
    assert first.code == "front_matter_placeholder"
    assert '"license: mit" instead of "license: {mit}"' in first.hint
    assert "{license_link}" in first.message  # the untouched placeholder is still named
