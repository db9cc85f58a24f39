"""Findings: one problem in a card, with words that come from ``templates/``.

A finding is built from a ``code`` and a small context dict; the message and the
hint are rendered right away from ``templates/text/card_finding.j2`` so the words
live with the other templates and the context is kept for re-rendering later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from core.render import Renderer

Severity = Literal["error", "warning"]
FINDING_TEMPLATE = "card_finding"


@cache
def renderer() -> Renderer:
    """One shared renderer: templates are static, so compile them once."""
    return Renderer()


@dataclass(frozen=True)
class Finding:
    """One thing wrong (error) or worth fixing (warning) in a card."""

    severity: Severity
    field: str
    code: str
    message: str
    hint: str
    context: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "field": self.field, "code": self.code,
                "message": self.message, "hint": self.hint, "context": dict(self.context)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(severity=data["severity"], field=data["field"], code=data["code"],
                   message=data.get("message", ""), hint=data.get("hint", ""),
                   context=dict(data.get("context") or {}))


def make_finding(severity: Severity, field_name: str, code: str, **context: Any) -> Finding:
    """Build a finding, rendering its message and hint from the finding template."""
    base = {"code": code, "field": field_name, "severity": severity, **context}
    message = renderer().render(FINDING_TEMPLATE, {**base, "part": "message"})
    hint = renderer().render(FINDING_TEMPLATE, {**base, "part": "hint"})
    return Finding(severity, field_name, code, message, hint, context)


def error(field_name: str, code: str, **context: Any) -> Finding:
    return make_finding("error", field_name, code, **context)


def warning(field_name: str, code: str, **context: Any) -> Finding:
    return make_finding("warning", field_name, code, **context)


def yaml_text(value: Any) -> str:
    """A YAML value written back the way YAML writes it (``{mit}``, ``[a, b]``), never as
    Python's repr, so the contributor recognises what they typed."""
    if isinstance(value, dict):
        items = [yaml_text(key) if item is None else f"{yaml_text(key)}: {yaml_text(item)}"
                 for key, item in value.items()]
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(yaml_text(item) for item in value) + "]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def shorten(value: Any, limit: int = 80) -> str:
    """A contributor's value, cut to fit in one line of a report."""
    text = " ".join(yaml_text(value).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
