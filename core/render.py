"""Jinja2 rendering: every text a person reads comes from ``templates/``.

Templates are looked up by flavour first (``slack/``, ``mail/``, ``chat/``) and then
in ``text/``, the plain-text default every channel can show. The Slack flavour
escapes every interpolated value (``&``, ``<``, ``>``) so contributor text can never
ping ``@channel`` or forge a link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"


ZERO_WIDTH_SPACE = "\u200b"
_FORMATTING = re.compile(r"([*_~`])")


def slack_entities(value: Any) -> str:
    """The three characters Slack's mrkdwn reads as control characters, as entities
    (all a link's address may have changed: it must still lead where it says)."""
    text = "" if value is None else str(value)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_escape(value: Any) -> str:
    """Someone's text shown as they typed it: entities for ``&<>``, and a zero-width
    space after each ``*_~``` so no pair of them turns into bold, italics, strike or
    code. Slack has no escape for those; the character itself stays for copy and paste."""
    return _FORMATTING.sub(rf"\1{ZERO_WIDTH_SPACE}", slack_entities(value))


class SafeForSlack(str):
    """A string already in Slack markup (a link we built): not escaped again."""


def _slack_finalize(value: Any) -> Any:
    if isinstance(value, SafeForSlack):
        return value
    return slack_escape(value)


class Renderer:
    """Renders a named template for one flavour of channel."""

    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        loader = FileSystemLoader(str(templates_dir))
        common = {"undefined": StrictUndefined, "trim_blocks": True, "lstrip_blocks": True,
                  "keep_trailing_newline": False, "autoescape": False}
        self._plain = Environment(loader=loader, **common)
        self._slack = Environment(loader=loader, finalize=_slack_finalize, **common)
        for env in (self._plain, self._slack):
            env.filters["slack_escape"] = slack_escape
        self._plain.filters["link"] = lambda url, label=None: (
            f"{label} <{url}>" if label and label != url else str(url))
        self._slack.filters["link"] = lambda url, label=None: SafeForSlack(
            f"<{slack_entities(url)}|{slack_escape(label or url)}>")
        for env in (self._plain, self._slack):
            env.filters["finding_message"] = self._finding_message
        self._plain.filters["card_report"] = lambda report: self._card_report(report, "text")
        self._slack.filters["card_report"] = lambda report: SafeForSlack(
            self._card_report(report, "slack"))

    def _finding_message(self, finding: dict[str, Any]) -> str:
        """A card finding kept as a code and its context (conversation state), in words."""
        context = {**(finding.get("context") or {}), "code": finding.get("code"),
                   "field": finding.get("field"), "severity": finding.get("severity"),
                   "part": "message"}
        return self.render("card_finding", context)

    def _card_report(self, report: dict[str, Any], flavour: str) -> str:
        """A stored card report (``CardReport.to_dict()``) as the card check presents it."""
        from core.cards import CardReport, render_report  # core.cards renders through us

        return render_report(CardReport.from_dict(report), self, flavour)

    def render(self, name: str, context: dict[str, Any], flavour: str = "text") -> str:
        """Render ``name`` (no extension) for ``flavour``, falling back to ``text/``.

        A name with a folder (``cli/serving``) is taken as it is.
        """
        env = self._slack if flavour == "slack" else self._plain
        candidates = ([f"{name}.j2"] if "/" in name
                      else [f"{flavour}/{name}.j2", f"text/{name}.j2"])
        template = env.select_template(candidates)
        return template.render(**context).strip()


def render_reply(renderer: Renderer, payload: dict[str, Any], flavour: str = "text",
                 numbered_choices: bool = True) -> str:
    """A stored reply (``Reply.to_dict()``) as one text; choices as a numbered list.

    Adapters that can show buttons pass ``numbered_choices=False`` and build them from
    ``payload["choices"]`` themselves.
    """
    texts = [renderer.render(part["template"], part["context"], flavour)
             for part in payload.get("parts", [])]
    choices = payload.get("choices")
    if numbered_choices and choices and choices.get("options"):
        texts.append(renderer.render("choices", choices, flavour))
    return "\n\n".join(text for text in texts if text)
