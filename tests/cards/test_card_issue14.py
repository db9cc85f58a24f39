"""What issue 14 saw the card check get wrong on real cards, each kept as a test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.cards import CardReport, check_card
from tests.cards.card_texts import drop_line, set_yaml, valid_card


def check(text: str) -> CardReport:
    return check_card(text.encode("utf-8"), "README.md")


def codes(report: CardReport) -> list[tuple[str, str]]:
    return [(f.field, f.code) for f in report.findings]


def errors(report: CardReport) -> list[tuple[str, str]]:
    return [(f.field, f.code) for f in report.errors]


# --- sections read as a tree ---------------------------------------------------------

HF_LAYOUT = """\
---
license: cc-by-4.0
---
# Dataset Card for Buoys

## Table of Contents
- [Dataset Description](#dataset-description)

## Dataset Description

- **Homepage:** https://example.org/buoys
- **Repository:** https://github.com/example/buoys
- **Paper:** https://arxiv.org/abs/0000.00000

### Dataset Summary

Hourly readings from forty ocean buoys, cleaned and resampled.

### Languages

No text: sensor readings.
"""


def test_hf_layout_description_is_its_summary_sub_section() -> None:
    report = check(HF_LAYOUT)
    assert ("dataset_description", "markdown_field_empty") not in codes(report)
    assert ("dataset_description", "markdown_field_missing") not in codes(report)
    assert "dataset_description" not in report.findings[-1].context.get("missing", [])


def test_description_with_only_links_and_no_sub_sections_is_still_empty() -> None:
    text = HF_LAYOUT.split("### Dataset Summary")[0]
    assert ("dataset_description", "markdown_field_empty") in codes(check(text))


def test_labels_with_required_suffix_are_found() -> None:
    text = valid_card().replace("- **Curated by:**", "- **Curated by (required):**")
    assert check(text).findings == []
    text = valid_card().replace("- **Repository:**", "* **Repository (required):**")
    assert check(text).findings == []


@pytest.mark.parametrize(("old", "new"), [
    ("#### Who Are the Source Data Producers?", "#### Who Creates the Source Data?"),
    ("#### Personal and Sensitive Information", "#### Privacy"),
    ("#### Range of dates for data generation", "#### Data Generation Period"),
    ("#### Dataset Issue Date", "#### Date Issued (required)"),
])
def test_renamed_headings_are_matched(old: str, new: str) -> None:
    text = valid_card()
    assert old in text
    assert check(text.replace(old, new)).findings == []


def test_created_by_names_the_curators() -> None:
    text = valid_card().replace("- **Curated by:**", "- **Created by:**")
    assert check(text).findings == []


def test_a_field_may_be_a_bold_label_instead_of_a_heading() -> None:
    text = valid_card()
    start = text.index("#### Dataset Issue Date")
    end = text.index("#### Range of dates")
    text = text[:start] + "**Dataset Issue Date:** 2024-05-31\n\n" + text[end:]
    assert check(text).findings == []


# --- licenses from the SPDX list -----------------------------------------------------

@pytest.mark.parametrize(("license_id", "name"), [
    ("cc-by-4.0", "Creative Commons Attribution 4.0 International (CC BY 4.0)"),
    ("cc-by-4.0", "Attribution 4.0 International"),
    ("mit", "The MIT License (MIT)"),
    ("odc-by", "Open Data Commons Attribution License (ODC-By) v1.0"),
    ("apache-2.0", "Apache License, Version 2.0"),
    ("pddl", "ODC Public Domain Dedication and License (PDDL) v1.0"),
])
def test_official_titles_and_short_names_agree(license_id: str, name: str) -> None:
    text = set_yaml(set_yaml(valid_card(), "license", license_id), "license_name", f'"{name}"')
    assert errors(check(text)) == []


@pytest.mark.parametrize("license_id", ["apache-2.0", "mit", "odc-by", "cc-by-4.0"])
def test_license_name_hint_names_the_cards_own_license_and_following_it_works(
        license_id: str) -> None:
    text = set_yaml(set_yaml(valid_card(), "license", license_id), "license_name", None)
    finding = next(f for f in check(text).findings if f.field == "license_name")
    assert "Community Data License" not in finding.hint
    suggested = finding.hint.split('"license_name: ', 1)[1].split('"', 1)[0]
    fixed = text.replace(f"license: {license_id}\n",
                         f'license: {license_id}\nlicense_name: "{suggested}"\n')
    assert errors(check(fixed)) == []


def test_capitalised_license_id_is_the_same_license() -> None:
    text = set_yaml(set_yaml(valid_card(), "license", "CC-BY-4.0"), "license_name",
                    "Creative Commons Attribution 4.0 International")
    report = check(text)
    assert report.errors == []
    spelling = next(f for f in report.findings if f.code == "license_id_spelling")
    assert "not a permissive" not in spelling.message and "cc-by-4.0" in spelling.hint


def test_license_written_as_a_yaml_mapping_is_shown_as_yaml() -> None:
    report = check(set_yaml(valid_card(), "license", "{mit}"))
    finding = next(f for f in report.findings if f.field == "license")
    assert finding.code == "license_not_text"
    assert "{mit}" in finding.message and "'mit'" not in finding.message
    assert "None" not in finding.message and '"license: mit"' in finding.hint


def test_a_non_permissive_license_is_named() -> None:
    report = check(set_yaml(valid_card(), "license", "cc-by-nc-4.0"))
    assert "Non Commercial" in report.findings[0].message


# --- template leftovers ----------------------------------------------------------------

@pytest.mark.parametrize("leftover", [
    "[Needs More Information]", "[More Information Needed]", "[more information needed]",
    '{{ dataset_summary | default("", true) }}', "{ dataset_description }",
    "_A quick summary of the dataset and its purpose._",
    "*Provide a longer summary of what this dataset is.*",
])
def test_leftovers_are_not_content(leftover: str) -> None:
    text = valid_card(bias_risks_limitations=leftover)
    finding = next(f for f in check(text).findings if f.field == "bias_risks_limitations")
    assert finding.code == "markdown_field_placeholder"
    assert "from the template" in finding.message
    shown = leftover.strip("_*")
    assert shown in finding.message or shown.lower() in finding.message.lower()


def test_the_site_template_as_downloaded_reports_leftovers_not_yaml_errors() -> None:
    from core.spec import CARD_TEMPLATE_PATH

    report = check(CARD_TEMPLATE_PATH.read_text(encoding="utf-8"))
    messages = " ".join(f.message for f in report.findings)
    assert "unhashable" not in messages and "spaces after" not in messages
    front = next(f for f in report.findings if f.field == "front_matter"
                 and f.severity == "error")
    assert front.code == "front_matter_placeholder" and "{{ card_data }}" in front.message
    placeholders = {f.field for f in report.findings if f.code == "markdown_field_placeholder"}
    assert {"dataset_summary", "dataset_description", "curated_by", "dataset_card_authors",
            "consent_documentation_location"} <= placeholders


def test_leftovers_in_optional_sections_get_one_warning() -> None:
    text = valid_card(glossary="[More Information Needed]", demo="[Needs More Information]")
    report = check(text)
    assert report.verdict == "passes"
    assert [(f.severity, f.code) for f in report.findings] == [("warning", "template_leftovers")]
    assert report.findings[0].context["count"] == 2


def test_braces_in_bibtex_are_no_template_field() -> None:
    text = valid_card(citation_bibtex="@misc{ocean, title = {Ocean}, author = {Ada}}")
    assert check(text).findings == []


# --- values read by meaning ------------------------------------------------------------

@pytest.mark.parametrize("value", ["2021", "2021-07", "July 2021", "01/07/2021",
                                   "Released on 3 March 2022.", "2021-07-01T10:00:00Z"])
def test_dates_of_any_common_precision_are_dates(value: str) -> None:
    report = check(valid_card(dataset_issue_date=value))
    assert report.errors == []
    assert all(f.code == "issue_date_not_iso" for f in report.findings)


def test_an_ambiguous_day_month_order_names_both_readings() -> None:
    finding = check(valid_card(dataset_issue_date="01/07/2021")).findings[0]
    assert "2021-07-01" in finding.hint and "2021-01-07" in finding.hint


@pytest.mark.parametrize("value", [
    "The dataset does not include any personal or sensitive information.",
    "No personal data.", "Not applicable: sensor readings only.", "N/A",
    "There is no personal information in this dataset.",
    "The data contains no personally identifiable information.",
    "This dataset doesn't contain sensitive data.",
])
def test_personal_information_denials_are_read_as_none(value: str) -> None:
    assert check(valid_card(personal_and_sensitive_information=value)).findings == []


def test_unclear_personal_information_lists_the_values() -> None:
    finding = check(valid_card(
        personal_and_sensitive_information="Names of public figures appear.")).findings[0]
    assert finding.code == "psi_value_unknown"
    assert "Personally Identifiable Information (PII)" in finding.message


@pytest.mark.parametrize("value", ["There is no proprietary data.", "Not applicable.",
                                   "The dataset contains no proprietary data.", "None"])
def test_proprietary_denials_pass(value: str) -> None:
    assert check(valid_card(proprietary_data_presence=value)).findings == []


# --- whole reports ---------------------------------------------------------------------

def test_card_without_front_matter_still_gets_its_sections_checked() -> None:
    text = valid_card(dataset_card_authors="[More Information Needed]").split("\n---\n", 1)[1]
    text = drop_line(text, "- **Curated by:**")
    found = codes(check(text))
    assert ("front_matter", "no_front_matter") in found
    assert ("dataset_card_authors", "markdown_field_placeholder") in found
    assert ("curated_by", "markdown_field_missing") in found


def test_prose_without_front_matter_lists_what_is_missing() -> None:
    report = check("# Notes\n\nSome words.\n")
    assert [f.code for f in report.findings] == ["no_front_matter", "not_otdi_template"]


def test_a_huge_card_with_thirty_thousand_headings_is_checked() -> None:
    extra = "".join(f"### Part {i}\n\nRows {i}.\n\n" for i in range(30_000))
    report = check(valid_card(dataset_structure=extra))
    assert report.verdict == "passes", codes(report)


def test_check_card_command_imports_only_what_checking_needs() -> None:
    code = ("import sys, json; from core.cards.cli import main; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('sqlalchemy', 'aiohttp', 'huggingface_hub', 'pydantic_settings', 'slack_bolt', "
            "'alembic', 'markdown_it', 'core.runtime'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []
