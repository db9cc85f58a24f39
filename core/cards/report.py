"""The card report: run every check on a card's bytes and say what was found.

``check_card`` never raises: a card that breaks the checker itself gets a
finding saying so, because a contributor must always get an answer.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from core.cards.findings import Finding, error, shorten
from core.cards.findings import renderer as shared_renderer
from core.cards.frontmatter import split_front_matter
from core.cards.markdown_fields import parse_body
from core.cards.reading import Decoded, read_card_bytes
from core.cards.rules import check_markdown, check_yaml, is_empty
from core.render import Renderer

DEFAULT_MAX_CARD_BYTES = 1_048_576
SLACK_SECTION_LIMIT = 3000
Verdict = Literal["passes", "problems", "unreadable"]
log = logging.getLogger(__name__)


@dataclass
class CardReport:
    """What the check found in one card; stored as ``to_dict()``."""

    readable: bool
    filename: str | None
    size: int
    sha256: str
    findings: list[Finding] = field(default_factory=list)
    pretty_name: str | None = None
    license: str | None = None
    task_categories: list[str] = field(default_factory=list)  # hints for the conversation
    tags: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def verdict(self) -> Verdict:
        if not self.readable:
            return "unreadable"
        return "problems" if self.errors else "passes"

    @property
    def exit_code(self) -> int:
        return {"passes": 0, "problems": 1, "unreadable": 2}[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {"readable": self.readable, "filename": self.filename, "size": self.size,
                "sha256": self.sha256, "pretty_name": self.pretty_name,
                "license": self.license, "task_categories": list(self.task_categories),
                "tags": list(self.tags), "verdict": self.verdict,
                "exit_code": self.exit_code,
                "findings": [finding.to_dict() for finding in self.findings]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CardReport:
        return cls(readable=bool(data["readable"]), filename=data.get("filename"),
                   size=int(data.get("size", 0)), sha256=str(data.get("sha256", "")),
                   findings=[Finding.from_dict(f) for f in data.get("findings", [])],
                   pretty_name=data.get("pretty_name"), license=data.get("license"),
                   task_categories=list(data.get("task_categories") or []),
                   tags=list(data.get("tags") or []))


def unreadable_report(finding: Finding, filename: str | None, size: int = 0,
                      sha256: str = "") -> CardReport:
    """A report for a card that could not be read at all."""
    return CardReport(False, filename, size, sha256, [finding])


def check_card(data: bytes, filename: str | None = None, *,
               max_bytes: int = DEFAULT_MAX_CARD_BYTES) -> CardReport:
    """Check a dataset card given as bytes. Never raises."""
    try:
        raw = bytes(data)
    except TypeError:  # a str slipped through: check it as the UTF-8 it would be
        raw = str(data).encode("utf-8", "surrogatepass")
    try:
        return _check(raw, filename, max_bytes)
    except Exception:  # the contributor still gets an answer; we get the traceback
        log.exception("card check failed on %r", filename)
        return CardReport(True, filename, len(raw), hashlib.sha256(raw).hexdigest(),
                          [error("card", "check_failed")])


def _check(data: bytes, filename: str | None, max_bytes: int) -> CardReport:
    digest = hashlib.sha256(data).hexdigest()
    decoded = read_card_bytes(data, filename, max_bytes)
    if not isinstance(decoded, Decoded):
        return unreadable_report(decoded, filename, len(data), digest)
    report = CardReport(True, filename, len(data), digest)
    text = decoded.text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        report.findings.append(error("card", "empty_card"))
        return report
    front = split_front_matter(text)
    report.findings.extend(front.findings)
    body = parse_body(front.body, front.body_line)
    if front.data is not None:
        report.pretty_name = _text_or_none(front.data.get("pretty_name"))
        report.license = _license_text(front.data.get("license"))
        report.task_categories = _short_texts(front.data.get("task_categories"))
        report.tags = _short_texts(front.data.get("tags"))
        report.findings.extend(check_yaml(front.data))
    unreadable = front.data is None and (front.found or bool(front.findings))
    markdown = check_markdown(body, front.data, unreadable)
    if not front.found:
        looks_like_template = not any(f.code == "not_otdi_template" for f in markdown)
        if not front.findings:
            report.findings.append(error("front_matter", "no_front_matter",
                                         looks_like_template=looks_like_template))
    # Even without front matter the sections are reported, so the answer is whole.
    report.findings.extend(markdown)
    return report


def _text_or_none(value: Any) -> str | None:
    return None if is_empty(value) else shorten(value, 200)


def _short_texts(value: Any, limit: int = 50) -> list[str]:
    """A YAML list (or one value) of short strings, as far as it is one."""
    items = value if isinstance(value, list) else [value]
    return [shorten(item, 100) for item in items[:limit]
            if isinstance(item, str) and item.strip()]


def _license_text(value: Any) -> str | None:
    if is_empty(value):
        return None
    items = value if isinstance(value, list) else [value]
    return shorten(", ".join(str(item) for item in items), 200)


def render_report(report: CardReport, renderer: Renderer | None = None,
                  flavour: str = "text") -> str:
    """The report for people: plain text (e-mail, CLI) or one Slack section."""
    active = renderer or shared_renderer()
    ordered = report.errors + report.warnings
    limit = SLACK_SECTION_LIMIT if flavour == "slack" else None
    shown = len(ordered)
    while True:
        text = active.render("card_report", _context(report, ordered, shown), flavour)
        if limit is None or len(text) < limit or shown == 0:
            return text
        shown = min(shown - 1, max(0, shown * limit // len(text)))


def _context(report: CardReport, ordered: list[Finding], shown: int) -> dict[str, Any]:
    visible = ordered[:shown]
    return {
        "readable": report.readable, "verdict": report.verdict,
        "filename": shorten(report.filename, 120) if report.filename else None,
        "pretty_name": report.pretty_name, "license": report.license,
        "size": report.size, "sha256": report.sha256,
        "error_count": len(report.errors), "warning_count": len(report.warnings),
        "errors": [f for f in visible if f.severity == "error"],
        "warnings": [f for f in visible if f.severity == "warning"],
        "more": len(ordered) - shown,
    }
