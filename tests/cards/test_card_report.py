"""The report: verdicts, storage round trip, and the Slack and e-mail renderings."""

from __future__ import annotations

import json

import pytest

from core.cards import CardReport, Finding, check_card, render_report
from core.cards.findings import make_finding
from core.render import Renderer
from tests.cards.card_texts import (
    FIELDS,
    add_yaml,
    render_template,
    set_yaml,
    without_leading_comment,
)


def report_for(text: str) -> CardReport:
    return check_card(text.encode(), "README.md")


def many_problems() -> CardReport:
    defaults = {name: "" for name in FIELDS if name != "card_data"}
    text = without_leading_comment(render_template(**defaults))
    tasks = "\n".join(f"  - not-a-task-{i}" for i in range(60))
    return report_for(text.replace("  - time-series-forecasting", tasks))


def test_verdicts_and_exit_codes(card: str) -> None:
    passing = report_for(set_yaml(card, "license", "mit").replace(
        "Community Data License Agreement Permissive 2.0", "MIT License"))
    assert (passing.verdict, passing.exit_code, len(passing.warnings)) == ("passes", 0, 1)
    problems = report_for(set_yaml(card, "license", "gpl-3.0"))
    assert (problems.verdict, problems.exit_code, len(problems.errors)) == ("problems", 1, 1)
    unreadable = check_card(b"%PDF-1.4", "README.md")
    assert (unreadable.verdict, unreadable.exit_code) == ("unreadable", 2)


def test_round_trips_through_json() -> None:
    report = many_problems()
    stored = json.loads(json.dumps(report.to_dict()))
    again = CardReport.from_dict(stored)
    assert again == report
    assert stored["verdict"] == "problems" and stored["exit_code"] == 1
    assert stored["findings"][0]["message"] == report.findings[0].message


def test_text_report_lists_every_finding() -> None:
    report = many_problems()
    text = render_report(report, Renderer(), "text")
    assert "PROBLEMS TO FIX" in text
    for finding in report.findings:
        assert finding.message in text and finding.hint in text


def test_text_report_for_a_passing_card(card: str) -> None:
    text = render_report(report_for(card), Renderer())
    assert "PASSES" in text and "Ocean Temperature Readings" in text


def test_slack_report_fits_a_section_and_says_how_many_more() -> None:
    report = many_problems()
    assert len(report.findings) > 60
    text = render_report(report, Renderer(), "slack")
    assert len(text) < 3000
    shown = text.count("\n• ")
    assert f"and {len(report.findings) - shown} more" in text


def test_slack_report_escapes_contributor_text(card: str) -> None:
    report = report_for(set_yaml(card, "license", '"<!channel> & <https://evil|click>"'))
    text = render_report(report, Renderer(), "slack")
    assert "<!channel>" not in text and "&lt;!channel&gt; &amp;" in text


def test_unreadable_report_renders() -> None:
    report = check_card(b"\x89PNG\r\n\x1a\n", "README.md")
    text = render_report(report, Renderer())
    assert "CANNOT BE READ" in text and "image (PNG)" in text


ALL_CODES: dict[str, dict[str, object]] = {
    "too_big": {"size": 2, "max_bytes": 1},
    "binary_file": {"kind": "pdf", "offset": None},
    "bad_extension": {"filename": "a.rst", "extension": ".rst", "allowed": []},
    "bad_encoding": {"encoding": "UTF-8", "offset": 3, "byte": "0xE9", "line": 1},
    "unsupported_encoding": {"encoding": "UTF-32"},
    "empty_card": {}, "not_found": {"path": "x"}, "not_a_file": {"path": "x"},
    "cannot_open": {"path": "x", "detail": "denied"},
    "fetch_failed": {"url": "u", "fetch_code": "timeout", "fetch_message": "Slow."},
    "check_failed": {}, "no_front_matter": {"looks_like_template": True},
    "front_matter_unterminated": {"line": 1}, "front_matter_opening_spaces": {"line": 1},
    "front_matter_after_comment": {"line": 20},
    "front_matter_too_big": {"size": 2, "limit": 1}, "yaml_too_deep": {"limit": 1, "line": 2},
    "yaml_too_many_aliases": {"limit": 1, "line": 2},
    "yaml_too_large_expanded": {"limit": 1, "line": 2}, "yaml_recursive_alias": {"line": 2},
    "yaml_syntax": {"line": 2, "column": 3, "problem": "bad", "snippet": "a: b: c"},
    "yaml_tabs": {"line": 2}, "yaml_duplicate_key": {"key": "license", "line": 3},
    "front_matter_not_mapping": {"kind": "list"}, "yaml_field_missing": {},
    "yaml_field_empty": {}, "yaml_field_not_list": {"value": "x"},
    "yaml_disallowed_field": {},
    "license_not_permissive": {"license": "gpl", "suggestion": None, "recommended": "c"},
    "license_not_recommended": {"license": "mit", "recommended": "c", "recommended_name": "C"},
    "license_name_mismatch": {"license": "mit", "license_name": "x", "expected": "MIT"},
    "task_category_unknown": {"value": "x", "parent": None, "suggestions": []},
    "not_otdi_template": {"missing": ["dataset_summary", "curated_by"]},
    "markdown_field_missing": {}, "markdown_field_empty": {"line": 3, "heading": "H"},
    "markdown_field_placeholder": {"line": 3, "heading": "H", "placeholder": "[M]"},
    "psi_value_unknown": {"line": 3, "heading": "H", "value": "v", "allowed": []},
    "psi_other_unspecified": {"line": 3, "heading": "H"},
    "issue_date_not_date": {"line": 3, "heading": "H", "value": "v"},
    "proprietary_data_not_no": {"line": 3, "value": "Yes"},
    "front_matter_placeholder": {"line": 1, "placeholder": "{{ card_data }}"},
    "yaml_field_placeholder": {"placeholder": "[M]"},
    "license_id_spelling": {"license": "CC-BY-4.0", "suggestion": "cc-by-4.0",
                            "license_title": "Creative Commons Attribution 4.0 International"},
    "license_not_hub_id": {"license": "MIT License", "suggestion": "mit",
                           "license_title": "MIT License"},
    "license_not_text": {"value": "{mit}", "kind": "mapping", "suggestion": "mit"},
    "markdown_field_partly_placeholder": {"line": 3, "heading": "H", "placeholder": "[M]"},
    "template_leftovers": {"count": 3, "line": 4,
                           "places": [{"line": 4, "placeholder": "[M]"}]},
    "issue_date_not_iso": {"line": 3, "heading": "H", "value": "July 2021", "iso": "2021-07",
                           "ambiguous": False, "alternative": None},
}


@pytest.mark.parametrize("code", sorted(ALL_CODES))
def test_every_code_has_its_own_words(code: str) -> None:
    finding = make_finding("error", "license", code, **ALL_CODES[code])
    assert isinstance(finding, Finding)
    assert finding.message and finding.hint
    assert not finding.message.startswith("Problem ")
    assert finding.hint != "See the OTDI dataset card template."
    assert "\n" not in finding.message


def test_duplicate_key_message_names_the_key(card: str) -> None:
    finding = report_for(add_yaml(card, "pretty_name: Again")).findings[0]
    assert "`pretty_name`" in finding.message and "line" in finding.message


def test_a_crash_in_the_checker_still_gives_an_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.cards.report as report_module

    def boom(*_args: object) -> CardReport:
        raise RuntimeError("bug")

    monkeypatch.setattr(report_module, "_check", boom)
    report = check_card(b"anything", "README.md")
    assert [f.code for f in report.findings] == ["check_failed"]
    assert report.exit_code == 1 and "reviewer" in report.findings[0].hint
