"""The OTDI card rules (``dataset_card`` in spec.yaml), each giving findings.

Requirements come from the spec; this module only decides which finding a card
gets. Words for people are in ``templates/text/card_finding.j2``.
"""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import Any

from core.cards.findings import Finding, error, shorten, warning, yaml_text
from core.cards.hf_tasks import RENAMED_TASKS, SUBTASK_PARENT, TASK_IDS
from core.cards.leftovers import find_leftovers, kept_braces, strip_leftovers, yaml_leftover
from core.cards.licenses import agrees, describe, identify, official_name
from core.cards.markdown_fields import (
    CardBody,
    FieldValue,
    Section,
    clean_value,
    without_labelled_items,
)
from core.cards.values import (
    find_date,
    first_line,
    is_bare_other,
    says_no,
    says_yes,
    uses_listed_value,
)
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
            findings.append(error(name, "yaml_field_missing", **_license_hint(data)))
        elif name == "source_datasets":
            findings.extend(_source_datasets(data[name]))
        elif is_empty(data[name]):
            findings.append(error(name, "yaml_field_empty", **_license_hint(data)))
        elif name != "license" and (leftover := yaml_leftover(data[name])) is not None:
            findings.append(error(name, "yaml_field_placeholder", placeholder=leftover))
    for name in spec["yaml_disallowed"]:
        if name in data:
            findings.append(error(name, "yaml_disallowed_field"))
    findings.extend(_license(data))
    findings.extend(_task_categories(data.get("task_categories")))
    findings.extend(_kept_braces(data, spec["yaml_required"]))
    return findings


def _kept_braces(data: dict[str, Any], required: list[str]) -> list[Finding]:
    """``pretty_name: {Ocean Data}`` or ``- {en}``: a value written inside the template's
    braces is a YAML mapping, not the value. An error for the OTDI fields, a warning for
    the others (the Hub misreads them too). ``license`` says so itself (``_license``)."""
    findings: list[Finding] = []
    for name, value in data.items():
        if name == "license" or not isinstance(name, str):
            continue
        items = value if isinstance(value, list) else [value]
        for item in items:
            kept = kept_braces(item)
            if kept is None:
                continue
            make = error if name in required else warning
            findings.append(make(name, "yaml_value_in_braces", value=shorten(kept),
                                 listed=isinstance(value, list)))
            break  # one finding a field
    return findings


def _license_hint(data: dict[str, Any]) -> dict[str, Any]:
    """The card's own license, so a hint for ``license_name`` names it (not our default)."""
    raw = data.get("license")
    first = raw[0] if isinstance(raw, list) and raw else raw
    key = identify(str(first)) if isinstance(first, str) and first.strip() else None
    return {"license_id": key, "license_title": official_name(key) if key else None}


def _source_datasets(value: Any) -> list[Finding]:
    if value is None or isinstance(value, list):
        return []
    if isinstance(value, str):
        return [warning("source_datasets", "yaml_field_not_list", value=shorten(value))]
    return [error("source_datasets", "yaml_field_not_list", value=shorten(value))]


def _license(data: dict[str, Any]) -> list[Finding]:
    """``license`` is a Hub id of a permissive license, and ``license_name`` names it.

    An id that only differs in spelling (``CC-BY-4.0``, the SPDX ``ODC-By-1.0``) is the
    same license: a warning says how the Hub writes it. Hints name the card's own license.
    """
    raw = data.get("license")
    items = raw if isinstance(raw, list) else [raw]
    keys = permissive_licenses()
    name = data.get("license_name")
    name_text = str(name).strip() if isinstance(name, str | int | float) else ""
    findings: list[Finding] = []
    ids: list[str] = []
    for item in items:
        if is_empty(item):
            continue
        leftover = yaml_leftover(item)
        if leftover is not None:
            findings.append(error("license", "yaml_field_placeholder", placeholder=leftover))
            continue
        if not isinstance(item, str | int | float):
            findings.append(_license_not_text(item))
            continue
        text = str(item).strip()
        if text in keys:
            ids.append(text)
            continue
        key = identify(text)
        if key is not None and " " not in text:
            findings.append(warning("license", "license_id_spelling", license=shorten(text),
                                    suggestion=key, license_title=official_name(key)))
            ids.append(key)
            continue
        if key is not None:
            findings.append(error("license", "license_not_hub_id", license=shorten(text),
                                  suggestion=key, license_title=official_name(key)))
            continue
        suggestion = identify(name_text) if text.lower() == "other" and name_text else None
        findings.append(error("license", "license_not_permissive", license=shorten(text),
                              license_title=describe(text), suggestion=suggestion,
                              recommended=recommended_license()))
    if any(f.severity == "error" for f in findings) or not ids:
        return findings
    if recommended_license() not in ids:
        findings.append(warning("license", "license_not_recommended", license=", ".join(ids),
                                recommended=recommended_license(),
                                recommended_name=official_name(recommended_license())))
    if name_text and find_leftovers(name_text, guidance=False):
        return findings
    if name_text and not any(agrees(license_id, name_text) for license_id in ids):
        findings.append(error("license_name", "license_name_mismatch",
                              license=", ".join(ids), license_name=shorten(name_text),
                              expected=official_name(ids[0])))
    return findings


def _license_not_text(item: Any) -> Finding:
    """``license: {mit}`` is a YAML mapping: say so in YAML words, not Python's."""
    keys = list(item) if isinstance(item, dict) else list(item) if isinstance(item, list) else []
    suggestion = identify(str(keys[0])) if len(keys) == 1 else None
    return error("license", "license_not_text", value=yaml_text(item),
                 kind="mapping" if isinstance(item, dict) else "list",
                 suggestion=suggestion or (str(keys[0]) if len(keys) == 1 else None))


def _task_categories(value: Any) -> list[Finding]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    findings: list[Finding] = []
    for item in items:
        if isinstance(item, str) and item in TASK_IDS:
            continue
        text = str(item) if isinstance(item, str | int | float) else ""
        renamed = RENAMED_TASKS.get(text.lower())
        suggestions = list(renamed) if renamed else get_close_matches(
            text.lower().replace(" ", "-"), sorted(TASK_IDS), n=3)
        findings.append(error("task_categories", "task_category_unknown",
                              value=shorten(item), parent=SUBTASK_PARENT.get(text),
                              suggestions=suggestions, renamed=renamed is not None))
    return findings


# --- Markdown body -------------------------------------------------------------------


def _yaml_value(data: dict[str, Any] | None, name: str) -> FieldValue | None:
    if not data:
        return None
    wanted = name.replace("_", "")
    for key, value in data.items():
        if isinstance(key, str) and key.lower().replace("_", "").replace("-", "").replace(
                " ", "") == wanted:
            return FieldValue("" if is_empty(value) else yaml_text(value).strip(), None, None)
    return None


def _includes(name: str) -> frozenset[str]:
    return frozenset(card_requirements().get("content_includes", {}).get(name, ()))


def _section_value(body: CardBody, name: str) -> FieldValue | None:
    section = body.find_section(name)
    if section is None:
        return None
    return body.section_value(section, name, _includes(name))


def _titles(body: CardBody) -> list[Section]:
    """The card's title headings, best first: "# Dataset Card for ..." ones, then other
    level-1 headings; without any level-1 heading, a first heading that is no field's
    heading ("Olfaction-Vision-Language Learning" underlined with "----")."""
    tops = [s for s in body.sections if s.level == 1]
    if tops:
        cards = [s for s in tops if s.words[:2] == ("dataset", "card")]
        return cards + [s for s in tops if s not in cards]
    first = body.sections[0] if body.sections else None
    if first is not None and not body.scores(first.words) \
            and first.level == min(s.level for s in body.sections):
        return [first]
    return []


def _summary(body: CardBody) -> FieldValue | None:
    """The paragraph under the card's title, else a Summary section.

    Of several titles ("# Dataset Card" left over above "# Dataset Card for X") the
    first with text counts. When none has text, a Summary section is the place the
    author filled (or left a placeholder in), so its finding points there.
    """
    titles = _titles(body)
    title = next((s for s in titles if meaningful(s.own_text)), None)
    if title is not None:
        return FieldValue(title.own_text, title.line, title.title,
                          lines=(title.head, title.end))
    if not titles and meaningful(body.preamble):
        return FieldValue(body.preamble, body.first_line, None)
    named = _section_value(body, "dataset_summary")
    if named is not None or not titles:
        return named
    first = titles[0]
    return FieldValue(first.own_text, first.line, first.title, lines=(first.head, first.end))


def _description(body: CardBody) -> FieldValue | None:
    """The description section's text and sub-sections, minus its "**Label:**" facts."""
    value = _section_value(body, "dataset_description")
    if value is None:
        return None
    for part in value.parts:
        part.text = without_labelled_items(part.text)
    value.text = "\n\n".join(part.text for part in value.parts if part.text)
    return value


def _labelled_or_section(body: CardBody, name: str, within: str | None) -> FieldValue | None:
    """A labelled line (preferably in section ``within``), else free text under a heading.

    Other "**Label:** value" items under the heading (Paper, Demo...) don't count. Of
    several places the first that says something real is taken.
    """
    near = body.find_section(within) if within else None
    candidates = body.find_labelled(name, near)
    section = body.find_section(name)
    if section is not None:
        value = body.section_value(section, name, _includes(name))
        for part in value.parts:
            part.text = without_labelled_items(part.text)
        value.text = "\n\n".join(part.text for part in value.parts if part.text)
        if value.text:
            candidates.append(value)
    return next((c for c in candidates if meaningful(c.text)), candidates[0] if candidates
                else None)


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
        if found is None or not meaningful(found.text):
            labelled = body.find_labelled(name)
            found = next((c for c in labelled if meaningful(c.text)), found or (
                labelled[0] if labelled else None))
    if found is None or not meaningful(found.text):
        from_yaml = _yaml_value(data, name)
        if from_yaml is not None and from_yaml.text:
            return from_yaml
    return found


_MARKUP = re.compile(r"!\[[^\]]*\]\([^)]*\)|<[^>\n]{0,400}>|^\s*(?:[-*+]|\d+[.)])\s*$|[*_`~#>|]",
                     re.MULTILINE)


def meaningful(text: str) -> str:
    """What the author really wrote: the text without template leftovers and bare markup."""
    if not text:
        return ""
    return clean_value(_MARKUP.sub(" ", strip_leftovers(text))).strip(" \n\t-:.,;")


def check_markdown(body: CardBody, data: dict[str, Any] | None,
                   metadata_unreadable: bool = False) -> list[Finding]:
    """Findings for the Markdown fields; one finding when most of them are missing.

    With ``metadata_unreadable`` (broken YAML) a field that may live in the front
    matter is not called missing: the YAML finding already says what to fix. Template
    leftovers outside the required fields get one warning that lists where they are.
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
    covered: list[tuple[int, int]] = []
    for name in required:
        value = located[name]
        severity = warning if name in WARN_ONLY_FIELDS else error
        if value is None:
            if not collapse:
                findings.append(severity(name, "markdown_field_missing"))
            continue
        if value.lines is not None:
            covered.append(value.lines)
        findings.extend(_check_value(name, value, severity))
    proprietary, where = _proprietary(body, data)
    findings.extend(proprietary)
    if where is not None:
        covered.append(where)
    findings.extend(_other_leftovers(body, covered))
    return sorted(findings, key=lambda f: (f.context.get("line") or 10**9))


def _check_value(name: str, value: FieldValue, severity: Any) -> list[Finding]:
    where = {"line": value.line, "heading": shorten(value.heading, 60) if value.heading else None}
    real = meaningful(value.text)
    if not real:
        leftovers = [found for part in value.parts for found in find_leftovers(part.text)]
        if leftovers:
            return [severity(name, "markdown_field_placeholder", placeholder=leftovers[0],
                             **where)]
        return [severity(name, "markdown_field_empty", **where)]
    findings: list[Finding] = []
    own = find_leftovers(value.parts[0].text) if value.parts else []
    if own and not meaningful(value.parts[0].text):
        return [severity(name, "markdown_field_placeholder", placeholder=own[0], **where)]
    if own:
        findings.append(warning(name, "markdown_field_partly_placeholder", placeholder=own[0],
                                **where))
    if name == "personal_and_sensitive_information":
        allowed = list(card_requirements()["personal_and_sensitive_information_values"])
        if is_bare_other(first_line(real)) and len(real.split()) <= 3:
            return [*findings, error(name, "psi_other_unspecified", **where)]
        if not uses_listed_value(real, allowed) and not says_no(real):
            return [*findings, error(name, "psi_value_unknown", value=shorten(first_line(real)),
                                     allowed=allowed, **where)]
    if name == "dataset_issue_date":
        found = find_date(real)
        if found is None:
            return [*findings, error(name, "issue_date_not_date",
                                     value=shorten(first_line(real)), **where)]
        if not found.was_iso:
            findings.append(warning(name, "issue_date_not_iso", value=shorten(first_line(real)),
                                    iso=found.iso, ambiguous=found.ambiguous,
                                    alternative=found.alternative, **where))
    return findings


def _proprietary(body: CardBody, data: dict[str, Any] | None
                 ) -> tuple[list[Finding], tuple[int, int] | None]:
    """Proprietary data is optional to mention, but when mentioned it must be "No"."""
    name = "proprietary_data_presence"
    value = _section_value(body, name)
    if value is None or not meaningful(value.text):
        labelled = body.find_labelled(name)
        value = labelled[0] if labelled else value
    if value is None or not meaningful(value.text):
        value = _yaml_value(data, name) or value
    if value is None:
        return [], None
    real = meaningful(value.text)
    if not real or says_no(real):
        return [], value.lines
    return [error(name, "proprietary_data_not_no", value=shorten(first_line(real)),
                  unclear=not says_yes(real) and "proprietary" not in real.lower(),
                  line=value.line)], value.lines


def _other_leftovers(body: CardBody, covered: list[tuple[int, int]]) -> list[Finding]:
    """One warning for template leftovers outside the fields checked above."""
    inside = sorted(covered)
    places: list[tuple[int, str]] = []
    span = 0
    for index, line in enumerate(body.lines):
        if index in body.code_lines or not _may_hold_leftover(line):
            continue
        while span < len(inside) and inside[span][1] <= index:
            span += 1
        if any(start <= index < end for start, end in inside[span:span + 3]):
            continue
        found = find_leftovers(line)
        if found:
            places.append((body.first_line + index, found[0]))
    if not places:
        return []
    return [warning("markdown", "template_leftovers", count=len(places),
                    places=[{"line": line, "placeholder": text} for line, text in places[:8]],
                    line=places[0][0])]


def _may_hold_leftover(line: str) -> bool:
    """Cheap pre-check so most lines skip the leftover search."""
    return "[" in line or "{" in line or "_" in line or "*" in line or len(line) > 30
