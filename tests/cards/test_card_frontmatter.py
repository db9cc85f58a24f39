"""Front matter: found where the Hub finds it, parsed safely, broken YAML explained."""

from __future__ import annotations

import time

import pytest
import yaml
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import REGEX_YAML_BLOCK

from core.cards import CardReport, check_card
from core.cards.frontmatter import MAX_ALIASES, MAX_DEPTH, split_front_matter
from tests.cards.card_texts import add_yaml, set_yaml


def check(text: str) -> CardReport:
    return check_card(text.encode("utf-8"), "README.md")


def codes(text: str) -> list[str]:
    return [f.code for f in check(text).findings]


def test_same_metadata_as_huggingface_hub(card: str) -> None:
    ours = split_front_matter(card).data
    match = REGEX_YAML_BLOCK.search(card)
    assert match is not None
    assert ours == yaml.safe_load(match.group(2))
    assert ours is not None
    assert DatasetCard(card).data.to_dict()["license"] == ours["license"]


def test_front_matter_closing_at_end_of_file(card: str) -> None:
    front = card.split("\n---\n", 1)[0] + "\n---"
    parsed = split_front_matter(front)
    assert parsed.data is not None and parsed.data["pretty_name"] == "Ocean Temperature Readings"
    assert parsed.body == ""


def test_blank_lines_before_front_matter_are_fine(card: str) -> None:
    assert check("\n\n" + card).findings == []


def test_prose_without_front_matter_gets_one_finding() -> None:
    report = check("# My dataset\n\nSome notes about the data.\n\n## Usage\n\nJust use it.\n")
    assert [(f.severity, f.code) for f in report.findings] == [
        ("error", "no_front_matter"), ("error", "not_otdi_template")]
    assert report.findings[0].context["looks_like_template"] is False
    assert "does not look like a dataset card" in report.findings[0].message


def test_template_body_without_front_matter(card: str) -> None:
    body = card.split("\n---\n", 1)[1]
    report = check(body)
    assert [f.code for f in report.findings] == ["no_front_matter", "markdown_field_missing"]
    assert report.findings[1].field == "unique_metadata_identifier"  # it was in the YAML


def test_spaces_after_the_opening_dashes(card: str) -> None:
    """The Hub's pattern wants "---" alone on the first line; we say so and check the rest."""
    assert codes("--- " + card[3:]) == ["front_matter_opening_spaces"]


def test_unterminated_front_matter(card: str) -> None:
    text = card.replace("\n---\n", "\n\n", 1)
    assert codes(text) == ["front_matter_unterminated"]


def test_empty_front_matter_lists_the_required_fields() -> None:
    assert codes("---\n---\n# Dataset Card for X\n\nA summary.\n")[:4] == [
        "yaml_field_missing"] * 4


def test_front_matter_that_is_a_list() -> None:
    assert codes("---\n- a\n- b\n---\n")[0] == "front_matter_not_mapping"


def test_broken_yaml_names_the_line(card: str) -> None:
    text = set_yaml(card, "pretty_name", "Ocean: Temperature: Readings")
    finding = check(text).findings[0]
    assert finding.code == "yaml_syntax"
    assert finding.context["line"] == 4  # line 1 is "---", pretty_name is line 4
    assert "line 4" in finding.message and "line 4" in finding.hint
    assert "Ocean: Temperature" in finding.message


def test_broken_yaml_line_counts_the_comment_above(template_card: str) -> None:
    text = set_yaml(template_card, "pretty_name", "[unclosed")
    finding = next(f for f in check(text).findings if f.code == "yaml_syntax")
    expected = text.split("\n").index("pretty_name: [unclosed") + 1
    assert finding.context["line"] in (expected, expected + 1)


def test_tabs_are_an_error_but_the_rest_is_still_checked(card: str) -> None:
    text = card.replace("language:\n  - en", "language:\n\t- en")
    assert codes(text) == ["yaml_tabs"]
    text = set_yaml(text, "license_name", "Apache License 2.0")
    assert codes(text) == ["yaml_tabs", "license_name_mismatch"]


def test_duplicate_keys(card: str) -> None:
    assert codes(add_yaml(card, "license: cdla-permissive-2.0")) == ["yaml_duplicate_key"]


def test_python_tags_are_refused(card: str) -> None:
    text = add_yaml(card, "evil: !!python/object/apply:os.system ['echo hacked']")
    assert codes(text) == ["yaml_syntax"]


def _laughs(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines)


def test_billion_laughs_is_refused_quickly(card: str) -> None:
    text = add_yaml(card, _laughs())
    started = time.perf_counter()
    report = check(text)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert "yaml_too_large_expanded" in [f.code for f in report.findings]
    assert report.verdict == "problems"


def test_billion_laughs_through_merge_keys_is_refused(card: str) -> None:
    lines = ["m0: &m0 {a: 1, b: 2}"]
    for level in range(1, 30):
        lines.append(f"m{level}: &m{level} {{<<: [*m{level - 1}], k{level}: [*m{level - 1}, "
                     f"*m{level - 1}]}}")
    started = time.perf_counter()
    found = codes(add_yaml(card, "\n".join(lines)))
    assert time.perf_counter() - started < 0.5
    assert "yaml_too_large_expanded" in found or "yaml_too_many_aliases" in found


def test_too_many_aliases(card: str) -> None:
    refs = "\n".join(f"r{i}: *x" for i in range(MAX_ALIASES + 1))
    assert codes(add_yaml(card, "x: &x 1\n" + refs)) == ["yaml_too_many_aliases"]


def test_too_deep(card: str) -> None:
    deep = "deep: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5)
    assert codes(add_yaml(card, deep)) == ["yaml_too_deep"]


def test_very_deep_nesting_does_not_blow_the_stack(card: str) -> None:
    deep = "deep: " + "[" * 100_000
    assert codes(add_yaml(card, deep)) == ["yaml_too_deep"]


def test_recursive_alias(card: str) -> None:
    assert codes(add_yaml(card, "loop: &loop [*loop]")) == ["yaml_recursive_alias"]


def test_oversized_front_matter(card: str) -> None:
    big = "description: " + "x" * 600_000
    assert codes(add_yaml(card, big)) == ["front_matter_too_big"]


@pytest.mark.parametrize("text", ["---\n---\n", "---\n---", "---\n", "---", "\n---\n\n---\n"])
def test_degenerate_front_matter_never_breaks(text: str) -> None:
    assert check(text).verdict in ("problems", "passes")


def test_front_matter_pattern_is_still_the_hubs() -> None:
    """The pattern is copied (importing huggingface_hub is slow); it must stay the same."""
    from huggingface_hub.repocard import REGEX_YAML_BLOCK as HUB

    from core.cards.frontmatter import REGEX_YAML_BLOCK

    assert (REGEX_YAML_BLOCK.pattern, REGEX_YAML_BLOCK.flags) == (HUB.pattern, HUB.flags)
