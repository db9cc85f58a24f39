"""The OTDI card rules (``dataset_card`` in spec.yaml), each giving findings.

Requirements come from the spec; this module only decides which finding a card
gets. Words for people are in ``templates/text/card_finding.j2``.
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Any

from core.cards.findings import Finding, error, shorten, warning
from core.cards.hf_tasks import SUBTASK_PARENT, TASK_IDS
from core.cards.licenses import agrees, identify
from core.cards.markdown_fields import CardBody, FieldValue, clean_value, without_labelled_items
from core.cards.values import first_line, is_bare_other, parse_date, says_no, uses_listed_value
from core.spec import card_requirements, permissive_licenses

WARN_ONLY_FIELDS = frozenset({"source_metadata_for_dataset"})
YAML_ALLOWED_FIELDS = frozenset({"unique_metadata_identifier"})


def is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | dict | tuple | set):
        return len(value) == 0
    return False


def recommended_license() -> str:
    return next((key for key, info in permissive_licenses().items() if info.get("recommended")),
                "cdla-permissive-2.0")


# --- YAML front matter -------------------------------------------------------------


def check_yaml(data: dict[str, Any]) -> list[Finding]:
    """Required, disallowed and typed front-matter fields, license and tasks."""
    spec = card_requirements()
    findings: list[Finding] = []
    for name in spec["yaml_required"]:
        if name not in data:
            findings.append(error(name, "yaml_field_missing"))
        elif name == "source_datasets":
            findings.extend(_source_datasets(data[name]))
        elif is_empty(data[name]):
            findings.append(error(name, "yaml_field_empty"))
    for name in spec["yaml_disallowed"]:
        if name in data:
            findings.append(error(name, "yaml_disallowed_field"))
    findings.extend(_license(data))
    findings.extend(_task_categories(data.get("task_categories")))
    return findings


def _source_datasets(value: Any) -> list[Finding]:
    if value is None or isinstance(value, list):
        return []
    if isinstance(value, str):
        return [warning("source_datasets", "yaml_field_not_list", value=shorten(value))]
    return [error("source_datasets", "yaml_field_not_list", value=shorten(value))]


def _license_ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(item).strip() for item in items if not is_empty(item)]


def _license(data: dict[str, Any]) -> list[Finding]:
    ids = _license_ids(data.get("license"))
    if not ids:
        return []
    keys = permissive_licenses()
    name = data.get("license_name")
    name_text = str(name).strip() if not is_empty(name) else ""
    findings: list[Finding] = []
    for license_id in ids:
        if license_id in keys:
            continue
        suggestion = identify(license_id)
        if suggestion is None and license_id.lower() == "other" and name_text:
            suggestion = identify(name_text)
        findings.append(error("license", "license_not_permissive", license=shorten(license_id),
                              suggestion=suggestion, recommended=recommended_license()))
    if findings:
        return findings
    if recommended_license() not in ids:
        findings.append(warning("license", "license_not_recommended", license=", ".join(ids),
                                recommended=recommended_license(),
                                recommended_name=keys[recommended_license()]["name"]))
    if name_text and not any(agrees(license_id, name_text) for license_id in ids):
        findings.append(error("license_name", "license_name_mismatch",
                              license=", ".join(ids), license_name=shorten(name_text),
                              expected=keys[ids[0]]["name"]))
    return findings


def _task_categories(value: Any) -> list[Finding]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    findings: list[Finding] = []
    for item in items:
        if isinstance(item, str) and item in TASK_IDS:
            continue
        text = str(item) if isinstance(item, str | int | float) else ""
        suggestions = get_close_matches(text.lower().replace(" ", "-"), sorted(TASK_IDS), n=3)
        findings.append(error("task_categories", "task_category_unknown",
                              value=shorten(item), parent=SUBTASK_PARENT.get(text),
                              suggestions=suggestions))
    return findings


# --- Markdown body -------------------------------------------------------------------


def _yaml_value(data: dict[str, Any] | None, name: str) -> FieldValue | None:
    if not data:
        return None
    wanted = name.replace("_", "")
    for key, value in data.items():
        if isinstance(key, str) and key.lower().replace("_", "").replace("-", "").replace(
                " ", "") == wanted:
            return FieldValue("" if is_empty(value) else str(value).strip(), None, None)
    return None


def _section_value(body: CardBody, name: str) -> FieldValue | None:
    section = body.find_section(name)
    if section is None:
        return None
    text = section.own_text or body.subsection_text(section, name)
    return FieldValue(text, section.line, section.title)


def _summary(body: CardBody) -> FieldValue | None:
    tops = [s for s in body.sections if s.level == 1]
    title = next((s for s in tops if s.words[:2] == ("dataset", "card")), tops[0] if tops else None)
    if title is not None and title.own_text:
        return FieldValue(title.own_text, title.line, title.title)
    if title is None and body.preamble:
        return FieldValue(body.preamble, body.first_line, None)
    named = _section_value(body, "dataset_summary")
    if named is not None and named.text:
        return named
    if title is not None:
        return FieldValue("", title.line, title.title)
    return named


def _description(body: CardBody) -> FieldValue | None:
    section = body.find_section("dataset_description")
    if section is None:
        return None
    return FieldValue(without_labelled_items(section.own_text), section.line, section.title)


def _labelled_or_section(body: CardBody, name: str, within: str | None) -> FieldValue | None:
    """A labelled line (preferably in section ``within``), else free text under a heading.

    Other "**Label:** value" items under the heading (Paper, Demo...) don't count.
    """
    near = body.find_section(within) if within else None
    labelled = body.find_labelled(name, near)
    if labelled is not None:
        return labelled
    section = body.find_section(name)
    if section is None:
        return None
    text = without_labelled_items(section.own_text or body.subsection_text(section, name))
    return FieldValue(text, section.line, section.title) if text else None


def locate(body: CardBody, data: dict[str, Any] | None, name: str) -> FieldValue | None:
    """Where the card gives Markdown field ``name`` (or None when it doesn't)."""
    if name == "unique_metadata_identifier":
        found = _yaml_value(data, name) or _labelled_or_section(body, name, None)
    elif name == "dataset_summary":
        found = _summary(body)
    elif name == "dataset_description":
        found = _description(body)
    elif name == "curated_by":
        found = _labelled_or_section(body, name, "dataset_description")
    elif name == "dataset_sources":
        found = _labelled_or_section(body, name, "dataset_sources")
    else:
        found = _section_value(body, name)
    if found is None or not found.text:
        from_yaml = _yaml_value(data, name)
        if from_yaml is not None and from_yaml.text:
            return from_yaml
    return found


def placeholder_in(text: str) -> str | None:
    lowered = " ".join(text.lower().split())
    for placeholder in card_requirements()["placeholders"]:
        if placeholder.lower() in lowered:
            return placeholder
    return None


def check_markdown(body: CardBody, data: dict[str, Any] | None,
                   metadata_unreadable: bool = False) -> list[Finding]:
    """Findings for the Markdown fields; one finding when most of them are missing.

    With ``metadata_unreadable`` (broken YAML) a field that may live in the front
    matter is not called missing: the YAML finding already says what to fix.
    """
    spec = card_requirements()
    required: list[str] = list(spec["markdown_required"])
    if metadata_unreadable:
        required = [name for name in required if name not in YAML_ALLOWED_FIELDS
                    or locate(body, None, name) is not None]
    located = {name: locate(body, data, name) for name in required}
    missing = [name for name in required if located[name] is None
               and name not in WARN_ONLY_FIELDS]
    findings: list[Finding] = []
    collapse = len(missing) > len(required) // 2
    if collapse:
        findings.append(error("markdown", "not_otdi_template", missing=missing))
    for name in required:
        value = located[name]
        severity = warning if name in WARN_ONLY_FIELDS else error
        if value is None:
            if not collapse:
                findings.append(severity(name, "markdown_field_missing"))
            continue
        findings.extend(_check_value(name, value, severity))
    findings.extend(_proprietary(body, data))
    return sorted(findings, key=lambda f: (f.context.get("line") or 10**9))


def _check_value(name: str, value: FieldValue, severity: Any) -> list[Finding]:
    where = {"line": value.line, "heading": shorten(value.heading, 60) if value.heading else None}
    text = value.text
    if not clean_value(text):
        return [severity(name, "markdown_field_empty", **where)]
    placeholder = placeholder_in(text)
    if placeholder:
        return [severity(name, "markdown_field_placeholder", placeholder=placeholder, **where)]
    if name == "personal_and_sensitive_information":
        allowed = list(card_requirements()["personal_and_sensitive_information_values"])
        if is_bare_other(first_line(text)) and len(text.split()) <= 3:
            return [error(name, "psi_other_unspecified", **where)]
        if not uses_listed_value(text, allowed):
            return [error(name, "psi_value_unknown", value=shorten(first_line(text)),
                          allowed=allowed, **where)]
    if name == "dataset_issue_date" and parse_date(text) is None:
        return [error(name, "issue_date_not_date", value=shorten(first_line(text)), **where)]
    return []


def _proprietary(body: CardBody, data: dict[str, Any] | None) -> list[Finding]:
    name = "proprietary_data_presence"
    value = _section_value(body, name)
    if value is None or not value.text:
        value = _yaml_value(data, name)
    if value is None or not clean_value(value.text) or says_no(value.text):
        return []
    return [error(name, "proprietary_data_not_no", value=shorten(first_line(value.text)),
                  line=value.line)]
