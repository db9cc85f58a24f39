"""The OTDI card rules: a complete card passes; each broken rule gets its one finding."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.cards import CardReport, check_card
from core.spec import card_requirements
from tests.cards.card_texts import (
    FIELDS,
    add_yaml,
    drop_line,
    drop_section,
    render_template,
    set_yaml,
    without_leading_comment,
)


def check(text: str) -> CardReport:
    return check_card(text.encode("utf-8"), "README.md")


def only_finding(text: str) -> tuple[str, str, str]:
    findings = check(text).findings
    assert len(findings) == 1, [(f.code, f.field, f.message) for f in findings]
    return findings[0].severity, findings[0].field, findings[0].code


def filled(**overrides: str) -> str:
    return without_leading_comment(render_template(**overrides))


def test_complete_otdi_card_passes_with_no_findings(card: str) -> None:
    report = check(card)
    assert report.findings == []
    assert (report.verdict, report.exit_code) == ("passes", 0)
    assert report.pretty_name == "Ocean Temperature Readings"
    assert report.license == "cdla-permissive-2.0"


def test_template_as_shipped_passes_with_one_warning(template_card: str) -> None:
    """The site's template keeps its comment above the front matter: a warning only."""
    report = check(template_card)
    assert report.verdict == "passes"
    assert [(f.severity, f.code) for f in report.findings] == [
        ("warning", "front_matter_after_comment")]


def test_template_with_its_defaults_reports_every_placeholder() -> None:
    defaults = {name: "" for name in FIELDS if name != "card_data"}
    report = check(filled(**defaults))
    placeholders = {f.field for f in report.findings if f.code == "markdown_field_placeholder"}
    assert placeholders >= {
        "curated_by", "dataset_sources", "data_collection_and_processing_section",
        "source_data_producers_section", "consent_documentation_location",
        "bias_risks_limitations", "personal_and_sensitive_information",
        "dataset_card_authors", "dataset_issue_date", "range_dates_data_generation"}
    assert {f.field for f in report.findings if f.code == "markdown_field_empty"} == {
        "dataset_summary", "dataset_description"}
    source_metadata = [f for f in report.findings if f.field == "source_metadata_for_dataset"]
    assert [f.severity for f in source_metadata] == ["warning"]
    assert report.verdict == "problems"


# --- one rule broken at a time ------------------------------------------------------

Breaker = Callable[[str], str]
YAML_CASES: list[tuple[str, Breaker, tuple[str, str, str]]] = [
    ("license missing", lambda t: set_yaml(t, "license", None),
     ("error", "license", "yaml_field_missing")),
    ("license_name missing", lambda t: set_yaml(t, "license_name", None),
     ("error", "license_name", "yaml_field_missing")),
    ("pretty_name missing", lambda t: set_yaml(t, "pretty_name", None),
     ("error", "pretty_name", "yaml_field_missing")),
    ("pretty_name empty", lambda t: set_yaml(t, "pretty_name", '"  "'),
     ("error", "pretty_name", "yaml_field_empty")),
    ("license_name empty", lambda t: set_yaml(t, "license_name", ""),
     ("error", "license_name", "yaml_field_empty")),
    ("source_datasets missing", lambda t: set_yaml(t, "source_datasets", None),
     ("error", "source_datasets", "yaml_field_missing")),
    ("source_datasets a string", lambda t: set_yaml(t, "source_datasets", "original/buoys"),
     ("warning", "source_datasets", "yaml_field_not_list")),
    ("source_datasets a mapping", lambda t: set_yaml(t, "source_datasets", "{a: b}"),
     ("error", "source_datasets", "yaml_field_not_list")),
    ("license not permissive",
     lambda t: set_yaml(set_yaml(t, "license", "cc-by-nc-4.0"), "license_name",
                        "Creative Commons Attribution Non Commercial 4.0"),
     ("error", "license", "license_not_permissive")),
    ("license other", lambda t: set_yaml(t, "license", "other"),
     ("error", "license", "license_not_permissive")),
    ("license permissive but not the recommended one",
     lambda t: set_yaml(set_yaml(t, "license", "mit"), "license_name", "MIT License"),
     ("warning", "license", "license_not_recommended")),
    ("license_name disagrees", lambda t: set_yaml(t, "license_name", "Apache License 2.0"),
     ("error", "license_name", "license_name_mismatch")),
    ("extra_gated_fields", lambda t: add_yaml(t, "extra_gated_fields:\n  Company: text"),
     ("error", "extra_gated_fields", "yaml_disallowed_field")),
    ("task category unknown", lambda t: t.replace("- time-series-forecasting", "- forecasting"),
     ("error", "task_categories", "task_category_unknown")),
    ("task category is a sub-task",
     lambda t: t.replace("- time-series-forecasting", "- named-entity-recognition"),
     ("error", "task_categories", "task_category_unknown")),
]


@pytest.mark.parametrize(("breaker", "expected"), [case[1:] for case in YAML_CASES],
                         ids=[case[0] for case in YAML_CASES])
def test_front_matter_rule(card: str, breaker: Breaker, expected: tuple[str, str, str]) -> None:
    assert only_finding(breaker(card)) == expected


def test_source_datasets_may_be_an_empty_list_or_null(card: str) -> None:
    assert check(set_yaml(card, "source_datasets", "")).findings == []
    assert check(set_yaml(card, "source_datasets", "[original/buoys]")).findings == []


def test_license_suggestions(card: str) -> None:
    wrong_case = check(set_yaml(card, "license", "CDLA-Permissive-2.0")).findings
    assert [(f.severity, f.code) for f in wrong_case] == [("warning", "license_id_spelling")]
    assert wrong_case[0].context["suggestion"] == "cdla-permissive-2.0"
    assert "license: cdla-permissive-2.0" in wrong_case[0].hint
    other = check(set_yaml(card, "license", "other")).findings
    assert other[0].context["suggestion"] == "cdla-permissive-2.0"


@pytest.mark.parametrize("name", [
    "CDLA-Permissive-2.0", "cdla-permissive-2.0", "CDLA Permissive 2.0",
    "Community Data License Agreement – Permissive – Version 2.0",
    "Community Data License Agreement Permissive",
])
def test_license_name_written_differently_agrees(card: str, name: str) -> None:
    assert check(set_yaml(card, "license_name", f'"{name}"')).findings == []


def test_license_name_with_another_version_disagrees(card: str) -> None:
    assert only_finding(set_yaml(card, "license_name", "CDLA Permissive 1.0"))[2] == (
        "license_name_mismatch")


def test_subtask_hint_names_the_category(card: str) -> None:
    text = card.replace("- time-series-forecasting", "- named-entity-recognition")
    finding = check(text).findings[0]
    assert finding.context["parent"] == "token-classification"
    assert "task_ids" in finding.hint and "token-classification" in finding.hint


def test_unknown_task_suggests_close_ids(card: str) -> None:
    text = card.replace("- time-series-forecasting", "- time-series-forcasting")
    assert "time-series-forecasting" in check(text).findings[0].context["suggestions"]


MARKDOWN_MISSING: list[tuple[str, Breaker]] = [
    ("unique_metadata_identifier", lambda t: set_yaml(t, "unique_metadata_identifier", None)),
    ("dataset_description", lambda t: drop_line(t, "### Dataset Description")),
    ("curated_by", lambda t: drop_line(t, "- **Curated by:**")),
    ("dataset_sources", lambda t: drop_line(t, "- **Repository:**")),
    ("data_collection_and_processing_section",
     lambda t: drop_section(t, "Data Collection and Processing")),
    ("source_data_producers_section",
     lambda t: drop_section(t, "Who Are the Source Data Producers")),
    ("source_metadata_for_dataset", lambda t: drop_section(t, "Source Metadata for Dataset")),
    ("consent_documentation_location",
     lambda t: drop_section(t, "Consent Documentation Location")),
    ("bias_risks_limitations", lambda t: drop_section(
        drop_section(t, "Bias, Risks, and Limitations"), "Recommendations")),
    ("personal_and_sensitive_information",
     lambda t: drop_section(t, "Personal and Sensitive Information")),
    ("use_of_privacy_enhancing_technologies_pets",
     lambda t: drop_section(t, "Privacy Enhancing Technologies")),
    ("dataset_card_authors", lambda t: drop_section(t, "Dataset Card Authors")),
    ("dataset_issue_date", lambda t: drop_section(t, "Dataset Issue Date")),
    ("range_dates_data_generation",
     lambda t: drop_section(t, "Range of dates for data generation")),
]


def test_every_required_markdown_field_has_a_missing_case() -> None:
    required = set(card_requirements()["markdown_required"])
    assert {name for name, _ in MARKDOWN_MISSING} | {"dataset_summary"} == required


@pytest.mark.parametrize(("field", "breaker"), MARKDOWN_MISSING,
                         ids=[name for name, _ in MARKDOWN_MISSING])
def test_markdown_field_missing(card: str, field: str, breaker: Breaker) -> None:
    severity = "warning" if field == "source_metadata_for_dataset" else "error"
    assert only_finding(breaker(card)) == (severity, field, "markdown_field_missing")


def test_dataset_summary_empty() -> None:
    assert only_finding(filled(dataset_summary="")) == (
        "error", "dataset_summary", "markdown_field_empty")


def test_dataset_description_with_only_the_fact_list_is_empty() -> None:
    assert only_finding(filled(dataset_description="")) == (
        "error", "dataset_description", "markdown_field_empty")


PLACEHOLDER_FIELDS = {
    "dataset_summary": "dataset_summary", "dataset_description": "dataset_description",
    "curated_by": "curators", "dataset_sources": "repo",
    "data_collection_and_processing_section": "data_collection_and_processing_section",
    "source_data_producers_section": "source_data_producers_section",
    "source_metadata_for_dataset": "source_metadata_for_dataset",
    "consent_documentation_location": "consent_documentation_location",
    "bias_risks_limitations": "bias_risks_limitations",
    "personal_and_sensitive_information": "personal_and_sensitive_information",
    "use_of_privacy_enhancing_technologies_pets": "use_of_privacy_enhancing_technologies_pets",
    "dataset_card_authors": "dataset_card_authors",
    "dataset_issue_date": "dataset_issue_date",
    "range_dates_data_generation": "range_dates_data_generation",
}


@pytest.mark.parametrize("field", sorted(PLACEHOLDER_FIELDS))
def test_markdown_field_left_as_placeholder(field: str) -> None:
    text = filled(**{PLACEHOLDER_FIELDS[field]: "[More Information Needed]"})
    severity = "warning" if field == "source_metadata_for_dataset" else "error"
    finding = check(text).findings[0]
    assert only_finding(text) == (severity, field, "markdown_field_placeholder")
    assert finding.context["line"] is not None and "[More Information Needed]" in finding.message


def test_unique_identifier_placeholder(card: str) -> None:
    text = set_yaml(card, "unique_metadata_identifier", '"[More Information Needed]"')
    assert only_finding(text) == (
        "error", "unique_metadata_identifier", "markdown_field_placeholder")


@pytest.mark.parametrize("where", ["heading", "labelled line", "bold labelled item"])
def test_unique_identifier_may_be_in_the_body(card: str, where: str) -> None:
    text = set_yaml(card, "unique_metadata_identifier", None)
    addition = {
        "heading": "## Unique Metadata Identifier\n\nurn:otdi:ocean:v1\n",
        "labelled line": "Unique metadata identifier: urn:otdi:ocean:v1\n",
        "bold labelled item": "- **Unique Metadata Identifier:** urn:otdi:ocean:v1\n",
    }[where]
    text = text.replace("## Dataset Details", addition + "\n## Dataset Details")
    assert check(text).findings == []


@pytest.mark.parametrize("value", [
    "None", "None.", "Personally Identifiable Information (PII): names were removed.",
    "PII, PHI", "Personal Health Information (PHI)", "Other: voice recordings of staff.",
])
def test_personal_information_listed_values_pass(value: str) -> None:
    assert check(filled(personal_and_sensitive_information=value)).findings == []


def test_personal_information_unlisted_value() -> None:
    finding = only_finding(filled(personal_and_sensitive_information="Not really, mostly fine"))
    assert finding == ("error", "personal_and_sensitive_information", "psi_value_unknown")


def test_personal_information_other_unspecified() -> None:
    assert only_finding(filled(personal_and_sensitive_information="Other (please specify)")) == (
        "error", "personal_and_sensitive_information", "psi_other_unspecified")


@pytest.mark.parametrize("value", ["Yes", "Some of the data is proprietary"])
def test_proprietary_data_must_be_no(value: str) -> None:
    assert only_finding(filled(proprietary_data_presence=value)) == (
        "error", "proprietary_data_presence", "proprietary_data_not_no")


@pytest.mark.parametrize("value", ["no", "No.", "No, all of it is open", "`no`"])
def test_proprietary_data_no_variants_pass(value: str) -> None:
    assert check(filled(proprietary_data_presence=value)).findings == []


def test_proprietary_data_section_may_be_omitted(card: str) -> None:
    assert check(drop_section(card, "Proprietary Data Presence")).findings == []


@pytest.mark.parametrize("value", [
    "2024-05-31", "2024-05-31:T12:30:00", "2024-05-31T12:30:00Z", "`2024-05-31`",
    "2024-05-31 (first release)", "2024", "2024-05",
])
def test_issue_date_formats_pass(value: str) -> None:
    assert check(filled(dataset_issue_date=value)).findings == []


@pytest.mark.parametrize(("value", "iso"), [
    ("2024/05/31", "2024-05-31"), ("31 May 2024", "2024-05-31"), ("May 31, 2024", "2024-05-31"),
    ("31/05/2024", "2024-05-31"), ("July 2021", "2021-07"),
])
def test_issue_date_in_another_form_gets_a_warning_with_the_iso_form(value: str,
                                                                     iso: str) -> None:
    finding = only_finding(filled(dataset_issue_date=value))
    assert finding == ("warning", "dataset_issue_date", "issue_date_not_iso")
    assert iso in check(filled(dataset_issue_date=value)).findings[0].hint


@pytest.mark.parametrize("value", ["last spring", "2024-13-01", "soon"])
def test_issue_date_not_a_date(value: str) -> None:
    assert only_finding(filled(dataset_issue_date=value)) == (
        "error", "dataset_issue_date", "issue_date_not_date")


def test_hf_card_without_otdi_sections_gets_one_markdown_finding(card: str) -> None:
    front = card.split("\n---\n", 1)[0] + "\n---\n"
    text = front + "# Ocean temps\n\nBuoy data.\n\n## Usage\n\nLoad it with datasets.\n"
    report = check(text)
    assert [(f.field, f.code) for f in report.findings] == [("markdown", "not_otdi_template")]
    assert "Consent Documentation Location" in report.findings[0].message


def test_html_comments_are_not_content() -> None:
    text = filled(consent_documentation_location="<!-- to do: ask legal -->")
    assert only_finding(text) == (
        "error", "consent_documentation_location", "markdown_field_empty")


def test_empty_section_does_not_borrow_the_next_fields_text(card: str) -> None:
    """PETs is a sub-heading of Personal and Sensitive Information in the template."""
    text = card.split("#### Personal and Sensitive Information")[0] + (
        "#### Personal and Sensitive Information\n\n##### Privacy Enhancing Technologies"
        " (PETs) Used?\n\nNo\n\n## Bias" + card.split("\n## Bias", 1)[1])
    assert only_finding(text) == (
        "error", "personal_and_sensitive_information", "markdown_field_empty")


def test_section_content_may_sit_in_its_own_sub_sections() -> None:
    text = filled(bias_risks_limitations="").replace(
        "[More Information Needed]\n\n### Recommendations",
        "### Known biases\n\nOnly 40 stations.\n\n### Recommendations")
    assert check(text).findings == []
