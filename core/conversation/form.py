"""What makes a whole form usable, before it is accepted (Slack shows it under each field).

Channel-neutral: a form is its answers by field (``domain_other`` for a domain of the
contributor's own) and what is known of the card; the channel turns each problem into
its own words and places (Block Kit inline errors). The same parsers as the
conversation (``core.fields.parse_field``) decide, so a form that passes here is taken
by ``step`` without a correction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.conversation.interpret import field_pairs
from core.conversation.model import DomainAnswer, stored_form
from core.conversation.prose import read_prose
from core.fields import FieldError, parse_field

CHECKED_FIELDS = ("name", "location", "hosting", "modalities", "email")


@dataclass(frozen=True)
class FormCard:
    """What the form says of its card: given or not, its size if known, whether the
    draft already has one (then the form may leave it out)."""

    given: bool
    size: int | None = None
    optional: bool = False


@dataclass(frozen=True)
class FormProblem:
    """One problem: a ``field_error`` (``code`` and ``context`` from ``FieldError``) or a
    form rule (``form_error`` with ``code``)."""

    template: str
    code: str
    context: dict[str, Any] = field(default_factory=dict)


def form_problems(answers: Mapping[str, str], card: FormCard, *, own_domain: bool,
                  unused_suggestion: bool, max_card_bytes: int) -> dict[str, FormProblem]:
    """Problems by field (``domain_other`` for the suggestion); empty when usable."""
    problems: dict[str, FormProblem] = {}

    def check(name: str, text: str, where: str) -> None:
        try:
            parse_field(name, text)
        except FieldError as error:
            context = error.render_context()
            problems[where] = FormProblem("field_error", str(context.get("code", "")), context)

    for name in CHECKED_FIELDS:
        check(name, answers.get(name, ""), name)
    suggestion = answers.get("domain_other") or ""
    if own_domain:
        if not suggestion:
            problems["domain_other"] = FormProblem("form_error", "suggestion_required")
        else:
            check("domain", suggestion, "domain_other")
    elif not answers.get("domain"):
        problems["domain"] = FormProblem("field_error", "domain_empty",
                                         {"field": "domain", "code": "domain_empty"})
    elif unused_suggestion:
        problems["domain_other"] = FormProblem("form_error", "suggestion_unused")
    if answers.get("consent") != "yes":
        problems["consent"] = FormProblem("form_error", "consent_required")
    if not card.given and not card.optional:
        problems["card"] = FormProblem("form_error", "card_missing")
    elif card.given and card.size is not None and card.size > max_card_bytes:
        problems["card"] = FormProblem("form_error", "card_too_large",
                                       {"limit": max_card_bytes})
    return problems


PREFILLED_FIELDS = ("name", "location", "hosting", "modalities", "domain", "email")
PROSE_PREFILLED = frozenset({"name", "location", "email"})
COMMAND_NAME_WORDS = 12


def prefill_from_text(text: str) -> dict[str, Any]:
    """What words typed with the form's command (``/contribute Ocean Temps
    https://...``) already answer: labelled pairs first, then the prose reading; only
    values the form's own parsers take, in the shape ``Answers`` stores them. The form
    shows them to be checked, nothing is stored before it is sent."""
    read = read_prose(text).found() if text.strip() else {}
    # Of the reading, only what has a shape (a link, an address, "called X"): a domain
    # or modality word may belong to the name ("Ocean Images").
    found: dict[str, str] = {k: v for k, v in read.items() if k in PROSE_PREFILLED}
    pairs = field_pairs(text)
    if "location" in found and "name" not in found and not pairs:
        # "/contribute Ocean Temperatures https://...": the words beside the one link
        rest = " ".join(text.replace(found["location"], " ").split()).strip(" ,;:-\u2013")
        if rest and len(rest.split()) <= COMMAND_NAME_WORDS and "://" not in rest:
            found["name"] = rest
    for key, value in pairs:
        found[key] = value  # a label says which field it is: it wins over the reading
    prefill: dict[str, Any] = {}
    for name in PREFILLED_FIELDS:
        if name not in found:
            continue
        try:
            parsed = parse_field(name, found[name])
        except FieldError:
            continue
        value = stored_form(name, parsed)
        prefill[name] = value.model_dump() if isinstance(value, DomainAnswer) else value
    return prefill
