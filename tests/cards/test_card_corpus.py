"""Real public dataset cards, and the OTDI template filled in the ways authors fill it.

``tests/data/cards/real/manifest.json`` names each card's source (repository, path,
commit) and the verdict and findings a reviewer decided it deserves after reading it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from core.cards import CardReport, check_card
from tests.cards.card_texts import set_yaml, valid_card

CORPUS = Path(__file__).parent.parent / "data" / "cards" / "real"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["cards"]


def test_the_corpus_is_large_and_every_card_names_its_source() -> None:
    assert len(MANIFEST) >= 80
    assert len({card["repository"] for card in MANIFEST}) >= 15
    for card in MANIFEST:
        assert re.fullmatch(r"[0-9a-f]{40}", card["commit"]), card["file"]
        assert card["repository"].count("/") == 1 and card["path"], card["file"]
        assert (CORPUS / card["file"]).is_file()


@pytest.mark.parametrize("card", MANIFEST, ids=[card["file"] for card in MANIFEST])
def test_real_card_gets_the_reviewed_findings(card: dict[str, object]) -> None:
    report = check_card((CORPUS / str(card["file"])).read_bytes(), "README.md")
    assert report.verdict == card["expected_verdict"]
    assert sorted([f.field, f.code] for f in report.errors) == card["expected_errors"]
    assert sorted([f.field, f.code] for f in report.warnings) == card["expected_warnings"]
    for finding in report.findings:
        assert "{'" not in finding.message and ": None}" not in finding.message, finding.message


def test_no_classic_layout_card_is_told_its_description_is_empty() -> None:
    classic = [card for card in MANIFEST if str(card["file"]).startswith("hf-")]
    assert len(classic) >= 30
    for card in classic:
        assert ["dataset_description", "markdown_field_empty"] not in card["expected_errors"]


# --- the OTDI template filled in naturally: every one passes -------------------------

def _heading(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


def _crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def _required_suffixes(text: str) -> str:
    for title in ("Dataset Description", "Data Collection and Processing",
                  "Consent Documentation Location", "Dataset Card Contact"):
        text = _heading(text, f" {title}\n", f" {title} (required)\n")
    return text.replace("**Curated by:**", "**Curated by (required):**")


def _no_optional_marks(text: str) -> str:
    return text.replace(" [optional]", "")


def _lower_headings(text: str) -> str:
    return re.sub(r"^(#+ )(.*)$", lambda m: m.group(1) + m.group(2).lower(), text,
                  flags=re.MULTILINE)


def _flat_levels(text: str) -> str:
    return re.sub(r"^#{3,5} ", "### ", text, flags=re.MULTILINE)


def _no_comments(text: str) -> str:
    return re.sub(r"<!--[\s\S]*?-->\n*", "", text)


def _setext_top(text: str) -> str:
    text = text.replace("# Dataset Card for Ocean Temperature Readings\n",
                        "Dataset Card for Ocean Temperature Readings\n"
                        "===========================================\n")
    return text.replace("## Uses\n", "Uses\n----\n")


def _identifier_in_body(text: str) -> str:
    text = set_yaml(text, "unique_metadata_identifier", None)
    return text.replace("- **Curated by:**", "- **Unique metadata identifier:** "
                        "urn:otdi:ocean:v1\n- **Curated by:**")


def _curators_heading(text: str) -> str:
    text = re.sub(r"^- \*\*Curated by:\*\*.*\n", "", text, flags=re.MULTILINE)
    return text.replace("### Dataset Sources", "### Curated by\n\nExample Marine Lab, "
                        "Ocean Data Team.\n\n### Dataset Sources")


def _curators_list(text: str) -> str:
    return text.replace("- **Curated by:** Example Marine Lab",
                        "- **Curated by:**\n  - Example Marine Lab\n  - Ada Example")


def _description_in_sub_sections(text: str) -> str:
    return text.replace("### Dataset Description\n",
                        "### Dataset Description\n\n#### What it contains\n")


def _renamed(text: str) -> str:
    text = _heading(text, "#### Who Are the Source Data Producers?",
                    "#### Who Creates the Source Data?")
    text = _heading(text, "#### Personal and Sensitive Information", "#### Privacy")
    return _heading(text, "#### Range of dates for data generation",
                    "#### Data Generation Period")


def _issue_date_label(text: str) -> str:
    start = text.index("#### Dataset Issue Date")
    end = text.index("#### Range of dates")
    return text[:start] + "- **Dataset Issue Date:** 31 May 2024\n\n" + text[end:]


def _colon_outside_bold(text: str) -> str:
    """"- **Repository**: url", as in many Hub cards, instead of "- **Repository:** url"."""
    return re.sub(r"^(\s*[-*] )\*\*([^*\n]+):\*\*", r"\1**\2**:", text, flags=re.MULTILINE)


def _asterisk_bullets(text: str) -> str:
    """Body lists with "*" bullets (the front matter keeps its YAML "-")."""
    head, body = text.split("\n---\n", 1)
    return head + "\n---\n" + re.sub(r"^(\s*)- ", r"\1* ", body, flags=re.MULTILINE)


def _setext_subtitle(text: str) -> str:
    """The title as a "----" underlined heading and no level-1 heading at all."""
    title = "# Dataset Card for Ocean Temperature Readings\n"
    text = _heading(text, title, "Ocean Temperature Readings\n----\n")
    return re.sub(r"^(#{1,5}) ", lambda m: "#" * max(2, len(m.group(1))) + " ", text,
                  flags=re.MULTILINE)


def _leftover_title_line(text: str) -> str:
    """A bare "# Dataset Card" left above the real title (the template's YAML comment)."""
    title = "# Dataset Card for Ocean Temperature Readings\n"
    return _heading(text, title, "# Dataset Card\n\n" + title)


def _pii_statement(text: str) -> str:
    return _heading(text, "#### Personal and Sensitive Information", "#### PII Statement")


def _license(license_id: str, name: str) -> Callable[[str], str]:
    return lambda text: set_yaml(set_yaml(text, "license", license_id), "license_name",
                                 f'"{name}"')


VARIANTS: dict[str, Callable[[str], str]] = {
    "as filled": lambda text: text,
    "CRLF line endings": _crlf,
    "(required) suffixes": _required_suffixes,
    "no [optional] marks": _no_optional_marks,
    "lower-case headings": _lower_headings,
    "flattened heading levels": _flat_levels,
    "comments removed": _no_comments,
    "setext headings": _setext_top,
    "identifier as a labelled line": _identifier_in_body,
    "curators under their own heading": _curators_heading,
    "curators as a list": _curators_list,
    "description in sub-sections": _description_in_sub_sections,
    "renamed headings": _renamed,
    "issue date as a bold label": _issue_date_label,
    "colon outside the bold labels": _colon_outside_bold,
    "asterisk bullets": _asterisk_bullets,
    "title underlined with dashes": _setext_subtitle,
    "a bare '# Dataset Card' above the title": _leftover_title_line,
    "PII Statement heading": _pii_statement,
    "MIT with its official title": _license("mit", "The MIT License (MIT)"),
    "CC BY 4.0 with its deed title": _license("cc-by-4.0", "Attribution 4.0 International"),
    "Apache with its long name": _license("apache-2.0", "Apache License, Version 2.0"),
    "ODC-By with its title": _license("odc-by",
                                      "Open Data Commons Attribution License (ODC-By) v1.0"),
    "CDLA with an en dash": _license(
        "cdla-permissive-2.0", "Community Data License Agreement – Permissive – Version 2.0"),
}
FIELD_VARIANTS: dict[str, dict[str, str]] = {
    "issue date as a year": {"dataset_issue_date": "2024"},
    "issue date as a month": {"dataset_issue_date": "2024-05"},
    "issue date in words": {"dataset_issue_date": "May 2024"},
    "personal information denied in a sentence": {
        "personal_and_sensitive_information":
            "The dataset does not include any personal or sensitive information."},
    "personal information as a listed value with detail": {
        "personal_and_sensitive_information":
            "Personally Identifiable Information (PII): station keepers' names, removed."},
    "proprietary data denied in a sentence": {
        "proprietary_data_presence": "There is no proprietary data in this dataset."},
    "consent not applicable": {
        "consent_documentation_location": "N/A - no people were involved."},
    "PETs named": {"use_of_privacy_enhancing_technologies_pets":
                   "Yes: k-anonymity over station locations."},
    "markdown in the values": {
        "bias_risks_limitations": "**Coverage**: only *40* stations.\n\n- gaps in winter",
        "dataset_card_authors": "- [Ada Example](https://example.org/ada)"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_filled_template_variant_passes(variant: str) -> None:
    text = VARIANTS[variant](valid_card())
    report = check_card(text.encode("utf-8"), "README.md")
    assert report.verdict == "passes", _summary(report)
    assert {f.code for f in report.warnings} <= {"license_not_recommended",
                                                  "issue_date_not_iso"}, _summary(report)


@pytest.mark.parametrize("variant", sorted(FIELD_VARIANTS))
def test_filled_template_value_variant_passes(variant: str) -> None:
    report = check_card(valid_card(**FIELD_VARIANTS[variant]).encode("utf-8"), "README.md")
    assert report.verdict == "passes", _summary(report)
    assert {f.code for f in report.warnings} <= {"issue_date_not_iso"}, _summary(report)


def test_there_are_at_least_twenty_variants() -> None:
    assert len(VARIANTS) + len(FIELD_VARIANTS) >= 20


def _summary(report: CardReport) -> list[tuple[str, str, str]]:
    return [(f.field, f.code, f.message) for f in report.findings]
