"""What the held-out trial on new real cards found the card check getting wrong.

Each case is the shape of a real card (named in tests/data/cards/real/manifest.json),
reduced to the part the check misread.
"""

from __future__ import annotations

from core.cards import CardReport, check_card
from tests.cards.card_texts import add_yaml, valid_card


def check(text: str) -> CardReport:
    return check_card(text.encode("utf-8"), "README.md")


def codes(report: CardReport) -> list[tuple[str, str]]:
    return [(f.field, f.code) for f in report.findings]


def missing(report: CardReport) -> list[str]:
    """Fields a "most sections are missing" finding lists."""
    return [name for f in report.findings if f.code == "not_otdi_template"
            for name in f.context["missing"]]


def test_a_leftover_title_above_the_real_title_does_not_hide_the_summary() -> None:
    title = "# Dataset Card for Ocean"
    text = valid_card().replace(title, "# Dataset Card\n---\n" + title, 1)
    report = check(text)
    assert ("dataset_summary", "markdown_field_empty") not in codes(report)


def test_a_title_underlined_with_dashes_holds_the_summary() -> None:
    text = ("---\nlicense: mit\n---\nOlfaction Learning: A Multimodal Dataset\n----\n\n"
            "Smells paired with images and words, for robots that follow a scent.\n\n"
            "## Dataset Description\n\n- **Total Samples**: 118,000\n")
    report = check(text)
    assert "dataset_summary" not in missing(report)
    assert ("dataset_summary", "markdown_field_missing") not in codes(report)


def test_a_field_heading_first_is_no_title() -> None:
    text = ("---\nlicense: mit\n---\n## Dataset Description\n\n- **Homepage:** https://x.org\n\n"
            "### Dataset Summary\n\n[More Information Needed]\n")
    found = {field: code for field, code in codes(check(text))}
    assert found.get("dataset_summary") == "markdown_field_placeholder"


def test_an_unfilled_classic_summary_is_a_placeholder_where_it_is() -> None:
    text = ("---\nlicense: mit\n---\n# Dataset Card for GermaNER\n\n## Dataset Description\n\n"
            "- **Repository:** https://github.com/x/y\n\n### Dataset Summary\n\n"
            "[More Information Needed]\n\n### Languages\n\nGerman\n")
    report = check(text)
    summary = next(f for f in report.findings if f.field == "dataset_summary")
    assert summary.code == "markdown_field_placeholder"
    assert summary.context["line"] == 10
    assert ("dataset_description", "markdown_field_placeholder") in codes(report)


def test_an_empty_repository_label_does_not_take_the_next_label() -> None:
    text = valid_card().replace("- **Repository:** ", "- **Repository:**\n- **Paper:** ", 1)
    assert ("dataset_sources", "markdown_field_empty") in codes(check(text))


def test_a_label_with_its_value_on_the_next_lines_still_counts() -> None:
    text = valid_card().replace("- **Curated by:** Example Marine Lab",
                                "- **Curated by:**\n  - Example Marine Lab\n  - **Ada Example**")
    assert check(text).findings == []


def test_a_pii_statement_heading_is_the_personal_information_section() -> None:
    text = valid_card().replace("#### Personal and Sensitive Information", "## PII Statement")
    report = check(text)
    assert [f for f in report.findings if f.field == "personal_and_sensitive_information"] == []


def test_an_old_task_category_is_told_its_new_ids() -> None:
    text = add_yaml(valid_card(), "task_categories: [conditional-text-generation]")
    finding = next(f for f in check(text).findings if f.field == "task_categories")
    assert "older Hugging Face list" in finding.message
    assert "text2text-generation" in finding.hint and "unconditional" not in finding.hint


def test_a_renamed_heading_is_named_as_the_card_writes_it() -> None:
    text = valid_card(source_data_producers_section="[More Information Needed]").replace(
        "#### Who Are the Source Data Producers?", "#### Who are the source language producers?")
    finding = next(f for f in check(text).findings if f.field == "source_data_producers_section")
    assert 'under "Who are the source language producers?"' in finding.message


def test_license_other_without_a_name_says_what_other_means() -> None:
    text = valid_card().replace("license: cdla-permissive-2.0", "license: other", 1)
    finding = next(f for f in check(text).findings if f.code == "license_not_permissive")
    assert 'license is "other"' in finding.message
