"""The data the conversation works on: its stored state, what comes in, what goes out."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from core.fields import FIELD_ORDER
from core.trust import Hold, SenderTrust


class Phase(StrEnum):
    """Where a conversation stands; the field being asked is ``ConversationState.asking``."""

    NEW = "new"
    COLLECTING = "collecting"
    CONFIRMING = "confirming"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"


class Question(StrEnum):
    """What the conversation waits for: a form field, or one of its own steps.

    Stored as its value, so states saved when this was a plain string still load.
    """

    NAME = "name"
    LOCATION = "location"
    HOSTING = "hosting"
    CARD = "card"
    MODALITIES = "modalities"
    DOMAIN = "domain"
    EMAIL = "email"
    CONSENT = "consent"
    CONFIRM = "confirm"  # the summary: submit?
    DOMAIN_SUGGESTION = "domain_suggestion"  # "record X as your own domain?"
    DOMAIN_OTHER = "domain_other"  # "which domain would you suggest?"
    PROPOSAL = "proposal"  # "I understood: name X, location Y. Right?"
    CANCEL = "cancel"  # "cancel this contribution?"
    CONSENT_CONFIRM = "consent_confirm"  # the summary and the terms: agree and submit?


class CardFinding(BaseModel):
    """One finding of the card check as a code and its context; its words are rendered
    from templates/text/card_finding.j2 when shown, never stored."""

    severity: Literal["error", "warning"]
    field: str
    code: str
    context: dict[str, Any] = Field(default_factory=dict)


class CardInfo(BaseModel):
    """What the conversation remembers of the current card; the bytes live in card_versions."""

    filename: str
    sha256: str
    size: int
    verdict: str
    findings: list[CardFinding] = Field(default_factory=list)
    # Rendered messages kept by states saved before findings were codes; new states leave
    # them empty.
    errors: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    version_id: int | None = None
    source_url: str | None = None
    pretty_name: str | None = None  # the card's own name for the dataset
    modalities: list[str] = Field(default_factory=list)  # what its tasks and tags suggest

    @property
    def error_count(self) -> int:
        return sum(f.severity == "error" for f in self.findings) or len(self.errors)

    @property
    def warning_count(self) -> int:
        return sum(f.severity == "warning" for f in self.findings) or len(self.warnings)

    def shown(self) -> dict[str, Any]:
        """For templates: counts, the errors as findings (codes) or old messages."""
        return {**self.model_dump(mode="json"), "error_count": self.error_count,
                "warning_count": self.warning_count,
                "error_findings": [f.model_dump(mode="json") for f in self.findings
                                   if f.severity == "error"]}


class Proposal(BaseModel):
    """Answers read from prose, waiting for one "yes" before any is stored.

    ``values`` holds, by field, the text that field's parser takes (so a "yes" stores
    exactly what was shown); ``then`` is the question that was open before.
    """

    values: dict[str, str]
    then: Question | None = None
    upgraded: bool = False  # an http:// link was shown as https://


class DomainAnswer(BaseModel):
    """The domain answer: one of the list, or the contributor's own suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: str
    is_suggestion: bool = False


class ConsentAnswer(BaseModel):
    """Consent to the contribution terms shown, and when it was given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agreed: bool = True
    at: datetime


class Answers(BaseModel):
    """The form's answers, one optional attribute per field; unset is ``None``.

    Dumped with only the answered fields, so the stored JSON lists what was given, as
    the plain dict it replaces did. ``get`` and ``in`` take a field's name, for code that
    walks ``FIELD_ORDER``.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    name: str | None = None
    location: str | None = None
    hosting: str | None = None
    card: str | None = None  # the card's filename
    modalities: list[str] | None = None
    domain: DomainAnswer | None = None
    email: str | None = None
    consent: ConsentAnswer | None = None

    @model_serializer(mode="wrap")
    def _given_only(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}

    def get(self, field: str) -> Any:
        """The answer to ``field`` by name (``None`` if not given); unknown names raise."""
        if field not in type(self).model_fields:
            raise KeyError(field)
        return getattr(self, field)

    def __contains__(self, field: object) -> bool:
        return isinstance(field, str) and field in type(self).model_fields \
            and getattr(self, field) is not None

    def given(self) -> list[str]:
        """The answered fields, in the form's order."""
        return [f for f in FIELD_ORDER if getattr(self, f) is not None]


# Keys that states saved before ``Answers`` kept inside their answers dict.
_MOVED_OUT_OF_ANSWERS = ("card_url", "card_from_location")


class ConversationState(BaseModel):
    """Everything needed to resume a conversation days later; stored as JSON."""

    model_config = ConfigDict(validate_assignment=True)  # "asking = 'card'" is a Question

    phase: Phase = Phase.NEW
    asking: Question | None = None
    answers: Answers = Field(default_factory=Answers)
    card_url: str | None = None  # the card is being fetched from here
    card_from_location: bool = False  # "card: " left empty: the README at the location
    card: CardInfo | None = None
    pending_domain: str | None = None
    suggestion: dict[str, str] | None = None  # "Did you mean https://...?": a "yes" takes it
    offered: list[str] = Field(default_factory=list)
    suggested_email: str | None = None
    card_errors_acknowledged: bool = False
    reference: str | None = None
    submission_id: int | None = None
    turns: int = 0
    proposal: Proposal | None = None
    before_cancel: Question | None = None  # the question open when "cancel" was asked to confirm
    card_name_noted: str | None = None  # the card's pretty_name already pointed out
    last_set: str | None = None  # the field answered last: where a bare "I meant X" goes
    consent_early: bool = False  # agreed before the terms were shown: asked with the summary
    skipped: list[str] = Field(default_factory=list)  # "skip"/"later": asked after the rest
    undo: list[dict[str, Any]] = Field(default_factory=list)  # earlier states, newest last

    @model_validator(mode="before")
    @classmethod
    def _old_answers(cls, data: Any) -> Any:
        """States saved when answers were a plain dict kept ``card_url`` and
        ``card_from_location`` in it: moved out; keys that are no field are dropped, so
        a stored conversation always loads."""
        if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
            return data
        answers = dict(data["answers"])
        data = dict(data)
        for key in _MOVED_OUT_OF_ANSWERS:
            if key in answers:
                value = answers.pop(key)
                if data.get(key) is None and value is not None:
                    data[key] = value
        data["answers"] = {k: v for k, v in answers.items()
                           if k in Answers.model_fields and v is not None}
        return data

    def missing(self) -> list[str]:
        """Fields still to answer, in the form's order; a card being fetched counts."""
        missing = [f for f in FIELD_ORDER if f not in self.answers]
        if "card" in missing and self.card_url:
            missing.remove("card")  # being fetched; the answer arrives as a file event
        return missing


@dataclass(frozen=True)
class CardFile:
    """A card as bytes, from an upload, an attachment, a path or a fetched URL."""

    filename: str
    data: bytes
    source_url: str | None = None


@dataclass(frozen=True)
class Inbound:
    """One thing a contributor did: typed text, sent a file, clicked a choice.

    An e-mail may carry text and a card at once: ``kind="text"`` with ``file`` set is
    handled as the card first, then the text, in one reply.

    ``resume`` is a contributor coming back (a terminal opened, a DM opened): they are
    greeted, or reminded where they left off. ``card_fetch_failed`` is the service
    telling the conversation that the card URL it asked for could not be fetched
    (``text`` holds the reason).

    ``form`` is a whole form at once (the Slack modal): ``form`` maps each answered
    field to its text (``domain_other``: a domain of the contributor's own), ``file``
    is the card, and ``text`` says why the card could not be had, if it could not.
    """

    kind: Literal["text", "file", "choice", "card_fetch_failed", "resume", "form"] = "text"
    text: str = ""
    file: CardFile | None = None
    field: str | None = None
    values: tuple[str, ...] = ()
    suggested_email: str | None = None
    sender_email: str | None = None  # e-mail: the From address, the default contact
    ignored_attachments: tuple[str, ...] = ()  # files that came along but are not the card
    form: Mapping[str, str] = dataclasses.field(default_factory=dict)  # kind "form"
    # Who sent it, as the channel could establish (core.trust); Slack and the terminal
    # are authenticated by their platform, an e-mail says what its checks found.
    sender_trust: SenderTrust = SenderTrust.PASS


@dataclass
class Part:
    """One paragraph of a reply: a template name and its context."""

    template: str
    context: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChoiceSet:
    """Structured choices for the question asked, shown as buttons or a numbered list."""

    field: str
    options: list[tuple[str, str]]
    multiple: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "multiple": self.multiple,
                "options": [{"value": v, "label": lbl} for v, lbl in self.options]}


@dataclass
class Reply:
    """Everything said in answer to one inbound event: one message, several parts."""

    parts: list[Part] = field(default_factory=list)
    choices: ChoiceSet | None = None

    def add(self, template: str, **context: Any) -> None:
        self.parts.append(Part(template, context))

    def to_dict(self) -> dict[str, Any]:
        return {"parts": [{"template": p.template, "context": p.context} for p in self.parts],
                "choices": self.choices.to_dict() if self.choices else None}


@dataclass(frozen=True)
class StoreCard:
    """Keep this card as a new version (the service fills ``CardInfo.version_id``)."""

    file: CardFile
    report: dict[str, Any]


@dataclass(frozen=True)
class FetchCard:
    """Fetch the card at this URL, then come back with a ``file`` event."""

    url: str


@dataclass(frozen=True)
class Submit:
    """Create the submission from the answers and hand it to review."""


@dataclass(frozen=True)
class Relay:
    """Pass what a contributor said after submitting (text, a new card) to the reviewers."""

    text: str
    filename: str | None = None
    report: dict[str, Any] | None = None


@dataclass(frozen=True)
class Withdraw:
    """The contributor takes their submission back."""


@dataclass(frozen=True)
class HoldForConfirmation:
    """Keep this event until the address on record confirms it (core.trust)."""

    action: Hold


@dataclass(frozen=True)
class Audit:
    """One row of the audit log."""

    action: str
    detail: dict[str, Any] = field(default_factory=dict)


Effect = StoreCard | FetchCard | Submit | Relay | Withdraw | HoldForConfirmation | Audit


@dataclass
class StepContext:
    """What the conversation may consult, passed in so tests can choose it."""

    now: datetime
    check_card: Callable[[bytes, str | None], Any]
    card_url_for_location: Callable[[str], str | None] = lambda _location: None
    submission_status: str | None = None
    require_sender_auth: bool = False  # INTAKE_REQUIRE_SENDER_AUTH


@dataclass
class StepResult:
    state: ConversationState
    reply: Reply
    effects: list[Effect] = field(default_factory=list)


def stored_form(field: str, parsed: Any) -> Any:
    """A parsed answer (``core.fields``) in the shape ``Answers`` keeps it."""
    if field == "modalities":
        return list(parsed.values)
    if field == "domain":
        return DomainAnswer(value=parsed.value, is_suggestion=parsed.is_suggestion)
    return getattr(parsed, "value", None)
