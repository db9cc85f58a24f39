"""The contribution form as a modal: the view, reading a submission, inline errors.

Only the Block Kit side lives here: the form's answers are read into the core's
``form`` inbound (``field -> text``), and what makes them usable is the core's
``form_problems``; this module places each problem under its block in Slack's words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.blocks import option, plain, sections
from bot.texts import Texts
from core.conversation import Answers, ConversationState
from core.conversation.form import FormCard, form_problems
from core.fields import choices_for
from core.spec import terms

FORM_CALLBACK = "otdi_contribute_form"
VALUE = "value"
OTHER = "other"
ERROR_LIMIT = 300


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False,
           hint: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain(label, 2000),
                             "element": {"action_id": VALUE, **element}, "optional": optional}
    if hint:
        block["hint"] = plain(hint, 2000)
    return block


def _options(pairs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [option(value, label) for value, label in pairs]


def form_view(texts: Texts, *, state: ConversationState | None, suggested_email: str | None,
              typed: dict[str, Any] | None = None) -> dict[str, Any]:
    """The modal, pre-filled from the contributor's draft (if any), what they typed with
    the command (``typed``: ``prefill_from_text``, it wins over the draft) and their
    Slack profile."""
    answers = state.answers if state is not None and state.phase in (
        "collecting", "confirming") else Answers()
    if typed:
        answers = Answers.model_validate({**answers.model_dump(), **typed})
    has_card = bool(answers.card) and state is not None and state.card is not None

    def label(name: str) -> str:
        return texts.render("field_label", field=name)

    hosting, modalities = choices_for("hosting"), choices_for("modalities")
    other = (OTHER, texts.label("domain_other_option"))
    domains = [*choices_for("domain"), other]
    name: dict[str, Any] = {"type": "plain_text_input", "max_length": 200}
    location: dict[str, Any] = {"type": "url_text_input"}
    radio: dict[str, Any] = {"type": "radio_buttons", "options": _options(hosting)}
    boxes: dict[str, Any] = {"type": "checkboxes", "options": _options(modalities)}
    select: dict[str, Any] = {"type": "static_select", "options": _options(domains),
                              "placeholder": plain(texts.label("pick_one"))}
    suggestion: dict[str, Any] = {"type": "plain_text_input", "max_length": 100}
    email: dict[str, Any] = {"type": "email_text_input"}
    consent_option = option("yes", texts.label("consent_option"))
    if answers.name:
        name["initial_value"] = answers.name
    if answers.location:
        location["initial_value"] = answers.location
    if answers.hosting in dict(hosting):
        radio["initial_option"] = option(answers.hosting, dict(hosting)[answers.hosting])
    picked = [m for m in answers.modalities or [] if m in dict(modalities)]
    if picked:
        boxes["initial_options"] = [option(m, dict(modalities)[m]) for m in picked]
    domain = answers.domain
    if domain is not None and domain.is_suggestion:
        select["initial_option"] = option(*other)
        suggestion["initial_value"] = domain.value
    elif domain is not None and domain.value in dict(domains):
        select["initial_option"] = option(domain.value, domain.value)
    if answers.email or suggested_email:
        email["initial_value"] = answers.email or suggested_email
    blocks = [
        *sections(texts.render("form_intro")),
        _input("name", label("name"), name),
        _input("location", label("location"), location),
        _input("hosting", label("hosting"), radio),
        _input("card", label("card"), {"type": "file_input", "max_files": 1,
                                       "filetypes": ["md", "markdown", "txt"]},
               optional=has_card, hint=texts.label("card_hint")),
        _input("modalities", label("modalities"), boxes),
        _input("domain", label("domain"), select),
        _input("domain_other", texts.label("domain_other_input"), suggestion, optional=True,
               hint=texts.label("domain_other_hint")),
        _input("email", label("email"), email, hint=texts.label("email_hint")),
        *sections(texts.render("form_terms", terms=terms())),
        _input("consent", label("consent"), {"type": "checkboxes",
                                             "options": [consent_option]}),
    ]
    return {"type": "modal", "callback_id": FORM_CALLBACK,
            "title": plain(texts.label("modal_title"), 24),
            "submit": plain(texts.label("modal_submit"), 24),
            "close": plain(texts.label("modal_close"), 24),
            "private_metadata": json.dumps({"card_optional": has_card}),
            "blocks": blocks}


def thanks_view(texts: Texts) -> dict[str, Any]:
    """What the modal shows once the form is accepted: the rest happens in the DM."""
    return {"type": "modal", "title": plain(texts.label("modal_title"), 24),
            "close": plain(texts.label("modal_done"), 24),
            "blocks": sections(texts.render("form_thanks"))}


@dataclass
class FormAnswers:
    """A submitted form: the answers by field (``domain_other``: their own domain), the card."""

    values: dict[str, str] = field(default_factory=dict)
    card: dict[str, Any] | None = None
    own_domain: bool = False
    unused_suggestion: bool = False
    card_optional: bool = False


def _state_value(values: dict[str, Any], block_id: str) -> dict[str, Any]:
    return (values.get(block_id) or {}).get(VALUE) or {}


def read_form(view: dict[str, Any]) -> FormAnswers:
    """The answers in a ``view_submission``'s ``view.state.values``."""
    values = (view.get("state") or {}).get("values") or {}
    answers = FormAnswers()
    for key in ("name", "location", "email"):
        text = _state_value(values, key).get("value")
        if text is not None:
            answers.values[key] = " ".join(str(text).split())
    hosting = _state_value(values, "hosting").get("selected_option")
    if hosting:
        answers.values["hosting"] = hosting["value"]
    modalities = _state_value(values, "modalities").get("selected_options") or []
    answers.values["modalities"] = ", ".join(o["value"] for o in modalities)
    domain = (_state_value(values, "domain").get("selected_option") or {}).get("value")
    suggestion = " ".join(str(_state_value(values, "domain_other").get("value") or "").split())
    if domain == OTHER:
        answers.own_domain = True
        answers.values["domain_other"] = suggestion
    elif domain:
        answers.values["domain"] = domain
    consent = _state_value(values, "consent").get("selected_options") or []
    answers.values["consent"] = "yes" if consent else "no"
    files = _state_value(values, "card").get("files") or []
    answers.card = files[0] if files else None
    try:
        answers.card_optional = bool(json.loads(view.get("private_metadata") or "{}")
                                     .get("card_optional"))
    except (ValueError, AttributeError):
        answers.card_optional = False
    answers.unused_suggestion = domain != OTHER and bool(suggestion)
    return answers


def form_errors(answers: FormAnswers, texts: Texts, max_card_bytes: int) -> dict[str, str]:
    """The core's problems by block id, for ``response_action: errors``; empty when usable."""
    card = answers.card
    size = card.get("size") if card is not None else None
    problems = form_problems(
        answers.values, FormCard(card is not None, size if isinstance(size, int) else None,
                                 answers.card_optional),
        own_domain=answers.own_domain, unused_suggestion=answers.unused_suggestion,
        max_card_bytes=max_card_bytes)
    errors: dict[str, str] = {}
    for block_id, problem in problems.items():
        if problem.template == "field_error":
            errors[block_id] = texts.plain("field_error", **problem.context)
        else:
            errors[block_id] = texts.render("form_error", code=problem.code, **problem.context)
    return {key: text[:ERROR_LIMIT] for key, text in errors.items()}
