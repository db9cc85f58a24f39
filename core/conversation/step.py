"""The conversation as one function: stored state + inbound event -> new state, reply, effects.

No I/O here. The service around it loads and saves state, stores cards, fetches card
URLs, creates submissions and queues the reply in the outbox.
"""

from __future__ import annotations

import re
from typing import Any

from core.conversation.interpret import (
    change_request,
    clean_text,
    command_of,
    field_pairs,
    is_greeting,
    normalise,
    numbered_choices,
    yes_or_no,
)
from core.conversation.model import (
    Audit,
    CardInfo,
    ChoiceSet,
    ConversationState,
    Effect,
    FetchCard,
    Inbound,
    Phase,
    Relay,
    Reply,
    StepContext,
    StepResult,
    StoreCard,
    Submit,
    Withdraw,
)
from core.fields import FIELD_ORDER, FieldError, choices_for, parse_field
from core.spec import terms

CONFIRM = "confirm"
DOMAIN_SUGGESTION = "domain_suggestion"
DOMAIN_OTHER = "domain_other"
MULTIPLE_CHOICE_FIELDS = {"modalities"}
_OTHER_DOMAIN = {"other", "other…", "other...", "something else", "none of these",
                 "none of them", "my own", "suggest my own", "i'll suggest one", "own"}
_USE_README = re.compile(
    r"^(?:none|empty|same|-|n/?a|the readme|readme|use the readme|"
    r"(?:the )?readme (?:at|in|of) the (?:location|repo|repository|dataset)|"
    r"it'?s (?:the|in the) readme|at the location)$"
)


class _Turn:
    """The working set of one step: a copy of the state, the reply and the effects."""

    def __init__(self, state: ConversationState, ctx: StepContext) -> None:
        self.state = state.model_copy(deep=True)
        self.ctx = ctx
        self.reply = Reply()
        self.effects: list[Effect] = []
        self.changed: list[str] = []

    def audit(self, action: str, **detail: Any) -> None:
        self.effects.append(Audit(action, detail))


def step(state: ConversationState, event: Inbound, ctx: StepContext) -> StepResult:
    """Advance the conversation by one inbound event."""
    turn = _Turn(state, ctx)
    turn.state.turns += 1
    if event.suggested_email and not turn.state.suggested_email:
        turn.state.suggested_email = event.suggested_email
    phase = turn.state.phase
    if event.kind == "resume" and phase not in (Phase.NEW, Phase.CANCELLED):
        _resume(turn)
        return StepResult(turn.state, turn.reply, turn.effects)
    if event.kind == "form" and phase is Phase.SUBMITTED:  # the form is a new contribution
        turn.audit("conversation.restarted", after=turn.state.reference)
        _start(turn, greet=False)
    elif phase in (Phase.NEW, Phase.CANCELLED):
        _start(turn, greet=event.kind != "form")  # the form introduces itself
    if event.sender_email and "email" not in turn.state.answers and phase is not \
            Phase.SUBMITTED:
        _set(turn, "email", event.sender_email)
    elif phase is Phase.SUBMITTED and event.kind != "form":
        _after_submission(turn, event)
        return StepResult(turn.state, turn.reply, turn.effects)

    if event.ignored_attachments:
        turn.reply.add("attachments_ignored", names=list(event.ignored_attachments))
    if event.file is not None:
        _receive_card(turn, event)
    if event.kind == "card_fetch_failed":
        turn.reply.add("card_fetch_failed", reason=event.text)
        _ask(turn, "card")
        return StepResult(turn.state, turn.reply, turn.effects)
    elif event.kind == "form":
        _receive_form(turn, event)
        return StepResult(turn.state, turn.reply, turn.effects)
    elif event.kind == "choice" and event.field:
        _receive_choice(turn, event.field, list(event.values))
    elif event.kind == "text" and (event.text.strip() or event.file is None):
        greeted = phase in (Phase.NEW, Phase.CANCELLED)
        if _receive_text(turn, clean_text(event.text), greeted=greeted):
            return StepResult(turn.state, turn.reply, turn.effects)
    _acknowledge(turn)
    _next_question(turn)
    return StepResult(turn.state, turn.reply, turn.effects)


# -- phases ------------------------------------------------------------------------------

def _start(turn: _Turn, greet: bool) -> None:
    suggested = turn.state.suggested_email
    turn.state = type(turn.state)(phase=Phase.COLLECTING, turns=turn.state.turns,
                                  suggested_email=suggested)
    turn.audit("conversation.started")
    if greet:
        turn.reply.add("welcome", fields=list(FIELD_ORDER))


def _resume(turn: _Turn) -> None:
    state = turn.state
    turn.reply.add("welcome_back", reference=state.reference, phase=str(state.phase),
                   status=turn.ctx.submission_status)
    if state.phase in (Phase.COLLECTING, Phase.CONFIRMING):
        if state.phase is Phase.CONFIRMING:
            turn.reply.add("summary", **_summary_context(state))
        _repeat_question(turn)


FINAL_STATUSES = ("approved", "rejected", "withdrawn")


def _after_submission(turn: _Turn, event: Inbound) -> None:
    """Once submitted, what the contributor says goes to the reviewers' thread.

    Commands still work (``status``, ``help``, ``withdraw``, ``new``); a new card is
    stored as a new version and checked, and reviewers see it with its report.
    """
    state = turn.state
    text = clean_text(event.text) if event.kind == "text" else ""
    status = turn.ctx.submission_status or "submitted"
    command = command_of(text)
    if event.file is None and command == "restart":
        turn.audit("conversation.restarted", after=state.reference)
        _start(turn, greet=True)
        _next_question(turn)
        return
    if event.file is None and command in ("help", "status", "summary"):
        if command == "help":
            turn.reply.add("help", phase=str(state.phase), asking=None)
        turn.reply.add("already_submitted", reference=state.reference, status=status)
        return
    if event.file is None and command in ("withdraw", "cancel"):
        if status in FINAL_STATUSES:
            turn.reply.add("already_submitted", reference=state.reference, status=status)
            return
        turn.effects.append(Withdraw())
        turn.reply.add("withdrawn", reference=state.reference)
        return
    report: dict[str, Any] | None = None
    if event.file is not None:
        checked = turn.ctx.check_card(event.file.data, event.file.filename)
        report = checked.to_dict()
        turn.effects.append(StoreCard(event.file, report))
        turn.audit("card.received", filename=event.file.filename, verdict=checked.verdict)
        turn.reply.add("card_added_to_submission", reference=state.reference,
                       filename=event.file.filename, report=report)
    if not text and report is None:
        if event.kind == "choice" or event.ignored_attachments:
            turn.reply.add("already_submitted", reference=state.reference, status=status)
        else:
            turn.reply.add("empty_message")
        return
    turn.effects.append(Relay(text, event.file.filename if event.file else None, report))
    if text:
        turn.reply.add("relayed_to_reviewers", reference=state.reference, status=status)


def _receive_text(turn: _Turn, text: str, greeted: bool) -> bool:
    """Interpret typed text. True when the reply is complete (a command answered)."""
    state = turn.state
    if not text:
        if not greeted:
            turn.reply.add("empty_message")
        return False
    command = command_of(text)
    if command and not (command == "restart" and greeted):
        return _run_command(turn, command)
    change = change_request(text)
    if change is not None:
        turn.audit("field.change_requested", field=change.field)
        if change.value is None:
            _ask(turn, change.field, changing=True)
            return True
        _apply(turn, change.field, change.value)
        return False
    pairs = field_pairs(text)
    if pairs:
        # The card last: "the README at the location" needs the location first.
        for key, value in sorted(pairs, key=lambda pair: pair[0] == "card"):
            _apply(turn, key, value, from_pairs=True)
        return False
    if greeted:
        return False  # a first "hello" or "I have a dataset" is not an answer yet
    asking = state.asking
    if is_greeting(text):
        turn.reply.add("greeting_again")
        _repeat_question(turn)
        return True
    suggestion = state.suggestion
    state.suggestion = None
    if suggestion and suggestion["field"] == asking and yes_or_no(text) is True:
        _apply(turn, asking, suggestion["value"])
        return False
    if asking == CONFIRM:
        return _confirm(turn, text)
    if asking == DOMAIN_SUGGESTION:
        _confirm_domain_suggestion(turn, text)
        return False
    if asking == DOMAIN_OTHER:
        _apply(turn, "domain", text, suggestion_only=True)
        return False
    if asking == "email" and state.suggested_email and yes_or_no(text) is True:
        _apply(turn, "email", state.suggested_email)
        return False
    if asking:
        picked = numbered_choices(text, state.offered)
        if picked == []:
            turn.reply.add("bad_number", count=len(state.offered))
        elif picked:
            _receive_choice(turn, asking, picked)
        else:
            _apply(turn, asking, text)
    return False


def _run_command(turn: _Turn, command: str) -> bool:
    state = turn.state
    if command == "help":
        turn.reply.add("help", phase=str(state.phase), asking=state.asking)
        _repeat_question(turn)
    elif command == "status":
        turn.reply.add("status", **_summary_context(state))
        _repeat_question(turn)
    elif command == "summary":
        turn.reply.add("summary", **_summary_context(state))
        _repeat_question(turn)
    elif command in ("cancel", "withdraw"):
        turn.audit("conversation.cancelled", answers=sorted(state.answers))
        state.phase = Phase.CANCELLED
        state.asking = None
        turn.reply.add("cancelled")
    elif command == "restart":
        turn.audit("conversation.restarted")
        _start(turn, greet=False)
        turn.reply.add("restarted")
        _next_question(turn)
    return True


def _repeat_question(turn: _Turn) -> None:
    if turn.state.asking:
        _ask(turn, turn.state.asking)
    else:
        _next_question(turn)


# -- answers -----------------------------------------------------------------------------

def _apply(turn: _Turn, field: str, text: str, *, from_pairs: bool = False,
           suggestion_only: bool = False) -> None:
    """Parse one answer into the state, or say precisely what is wrong with it."""
    state = turn.state
    if field == "card":
        _receive_card_text(turn, text, from_pairs=from_pairs)
        return
    if field == "email" and state.suggested_email and yes_or_no(text) is True:
        text = state.suggested_email
    if field == "domain" and suggestion_only and text.strip():
        _offer_domain_suggestion(turn, text)
        return
    if field == "domain" and normalise(text) in _OTHER_DOMAIN:
        state.asking = DOMAIN_OTHER  # as the "Other..." button: ask for their own
        return
    try:
        parsed = parse_field(field, text)
    except FieldError as error:
        turn.reply.add("field_error", field=error.field, code=error.code, **error.context)
        if isinstance(error.context.get("suggestion"), str):
            state.suggestion = {"field": field, "value": error.context["suggestion"]}
        if state.asking != field:
            state.asking = field
        return
    _store(turn, field, parsed)


def _store(turn: _Turn, field: str, parsed: Any) -> None:
    state = turn.state
    if field == "domain" and parsed.is_suggestion:
        _offer_domain_suggestion(turn, parsed.value)
        return
    if field == "consent":
        if not parsed.agreed:
            state.answers.pop("consent", None)
            turn.reply.add("consent_declined")
            state.asking = "consent"
            return
        value: Any = {"agreed": True, "at": turn.ctx.now.isoformat()}
    elif field == "modalities":
        value = list(parsed.values)
    elif field == "domain":
        value = {"value": parsed.value, "is_suggestion": False}
    else:
        value = parsed.value
    _set(turn, field, value)


def _set(turn: _Turn, field: str, value: Any) -> None:
    state = turn.state
    previous = state.answers.get(field)
    state.answers[field] = value
    if state.asking == field or (field == "domain"
                                 and state.asking in (DOMAIN_SUGGESTION, DOMAIN_OTHER)):
        state.asking = None
    if field == "domain":
        state.pending_domain = None
    turn.changed.append(field)
    turn.audit("field.set", field=field, value=value, previous=previous)


def _receive_choice(turn: _Turn, field: str, values: list[str]) -> None:
    """A button, checkbox or numbered pick: the values are the options' own values."""
    if field == CONFIRM:
        _confirm(turn, values[0] if values else "")
        return
    if field == DOMAIN_SUGGESTION:
        _confirm_domain_suggestion(turn, values[0] if values else "")
        return
    if field == "domain" and values and values[0] == "other":
        turn.state.asking = DOMAIN_OTHER
        return
    if field == "email" and values:
        _apply(turn, "email", values[0])
        return
    joiner = ", " if field in MULTIPLE_CHOICE_FIELDS else " "
    _apply(turn, field, joiner.join(values[:1] if field not in MULTIPLE_CHOICE_FIELDS
                                    else values))


def _receive_form(turn: _Turn, event: Inbound) -> None:
    """A whole form: every answer set as if typed alone, then one reply.

    Answers are taken field by field (a name like ``Sea, url: x`` stays a name); a
    domain of their own needs no second "yes" (picking "Other" said it); when nothing
    is missing the form counts as confirmed, so it ends in the submission, or in the
    card's errors to acknowledge first.
    """
    state = turn.state
    for name in FIELD_ORDER:
        if name != "card" and event.form.get(name) is not None:
            _apply(turn, name, event.form[name])
    own = (event.form.get(DOMAIN_OTHER) or "").strip()
    if own:
        try:
            parsed = parse_field("domain", own)
        except FieldError as error:
            turn.reply.add("field_error", field=error.field, code=error.code, **error.context)
            state.asking = "domain"
        else:
            _set(turn, "domain", {"value": parsed.value, "is_suggestion": parsed.is_suggestion})
    if event.text:  # the card could not be downloaded
        turn.reply.add("card_fetch_failed", reason=event.text)
        state.asking = "card"
    _acknowledge(turn)
    if (state.asking and state.asking != CONFIRM) or _missing(state):
        _next_question(turn)
        return
    state.phase = Phase.CONFIRMING
    turn.reply.add("summary", **_summary_context(state))
    _confirm(turn, "yes")


def _offer_domain_suggestion(turn: _Turn, text: str) -> None:
    try:
        parsed = parse_field("domain", text)
    except FieldError as error:
        turn.reply.add("field_error", field=error.field, code=error.code, **error.context)
        turn.state.asking = "domain"
        return
    if not parsed.is_suggestion:
        _store(turn, "domain", parsed)
        return
    turn.state.pending_domain = parsed.value
    turn.state.asking = DOMAIN_SUGGESTION


def _confirm_domain_suggestion(turn: _Turn, text: str) -> None:
    state = turn.state
    answer = yes_or_no(text)
    if answer is True and state.pending_domain:
        _set(turn, "domain", {"value": state.pending_domain, "is_suggestion": True})
    elif answer is False:
        state.pending_domain = None
        state.asking = "domain"
    else:
        picked = numbered_choices(text, state.offered)
        _apply(turn, "domain", picked[0] if picked else text)


def _receive_card_text(turn: _Turn, text: str, *, from_pairs: bool) -> None:
    """A card named by URL, or "the README at the location"; otherwise ask for the file."""
    state = turn.state
    said = normalise(text)
    if said.startswith("https://") and " " not in said:
        url = text.strip().strip("<>")
        turn.effects.append(FetchCard(url))
        turn.audit("card.fetch_requested", url=url)
        state.answers["card_url"] = url
        return
    if not said or _USE_README.match(said):
        location = state.answers.get("location")
        url = turn.ctx.card_url_for_location(location) if location else None
        if url:
            turn.effects.append(FetchCard(url))
            turn.audit("card.fetch_requested", url=url)
            state.answers["card_url"] = url
        elif from_pairs and not said:
            state.answers["card_from_location"] = True
        else:
            turn.reply.add("card_needs_file", location=location)
            state.asking = "card"
        return
    turn.reply.add("card_needs_file", location=state.answers.get("location"), said=text[:200])
    state.asking = "card"


def _receive_card(turn: _Turn, event: Inbound) -> None:
    assert event.file is not None
    report = turn.ctx.check_card(event.file.data, event.file.filename)
    turn.effects.append(StoreCard(event.file, report.to_dict()))
    turn.audit("card.received", filename=event.file.filename, sha256=report.sha256,
               verdict=report.verdict, source_url=event.file.source_url)
    if not report.readable:
        turn.reply.add("card_received", report=report.to_dict(), filename=event.file.filename)
        turn.state.asking = "card"
        return
    replaced = turn.state.card is not None
    turn.state.card = CardInfo(
        filename=event.file.filename, sha256=report.sha256, size=report.size,
        verdict=report.verdict, errors=[f.message for f in report.errors],
        warnings=[f.message for f in report.warnings], source_url=event.file.source_url)
    turn.state.card_errors_acknowledged = False
    turn.state.answers["card"] = event.file.filename
    turn.reply.add("card_received", report=report.to_dict(), filename=event.file.filename,
                   replaced=replaced)
    if turn.state.asking == "card":
        turn.state.asking = None


# -- confirmation and submission ----------------------------------------------------------

def _confirm(turn: _Turn, text: str) -> bool:
    state = turn.state
    answer = yes_or_no(text)
    if answer is None and normalise(text) in ("yes", "submit"):
        answer = True
    if answer is True:
        if state.card and state.card.errors and not state.card_errors_acknowledged:
            state.card_errors_acknowledged = True
            turn.reply.add("card_errors_before_submit", errors=state.card.errors)
            _ask(turn, CONFIRM)
            return True
        turn.effects.append(Submit())
        state.phase = Phase.SUBMITTED
        state.asking = None
        state.offered = []
        return True
    if answer is False:
        turn.reply.add("what_to_change", fields=list(FIELD_ORDER))
        return True
    turn.reply.add("confirm_unclear")
    _ask(turn, CONFIRM)
    return True


def _acknowledge(turn: _Turn) -> None:
    if turn.changed:
        turn.reply.add("understood", fields=turn.changed,
                       values={f: _display(turn.state, f) for f in turn.changed})


def _missing(state: ConversationState) -> list[str]:
    missing = [f for f in FIELD_ORDER if f not in state.answers]
    if "card" in missing and state.answers.get("card_url"):
        missing.remove("card")  # being fetched; the answer arrives as a file event
    return missing


def _next_question(turn: _Turn) -> None:
    state = turn.state
    if state.phase is not Phase.COLLECTING and state.phase is not Phase.CONFIRMING:
        return
    if state.asking and state.asking != CONFIRM:
        _ask(turn, state.asking)
        return
    missing = _missing(state)
    if missing:
        state.phase = Phase.COLLECTING
        _ask(turn, missing[0])
        return
    state.phase = Phase.CONFIRMING
    turn.reply.add("summary", **_summary_context(state))
    _ask(turn, CONFIRM)


def _ask(turn: _Turn, field: str, changing: bool = False) -> None:
    """Put the question for ``field`` at the end of the reply, with its choices."""
    state = turn.state
    state.asking = field
    if field != CONFIRM and state.phase is Phase.CONFIRMING:
        state.phase = Phase.COLLECTING
    options: list[tuple[str, str]]
    if field == CONFIRM:
        options = [("yes", "Submit"), ("no", "Change something")]
    elif field == DOMAIN_SUGGESTION:
        options = [("yes", f"Yes, use \u201c{state.pending_domain}\u201d"),
                   ("no", "No, show the list")]
    elif field == "domain":
        options = [*choices_for("domain"), ("other", "Other\u2026 (suggest your own)")]
    elif field == "email" and state.suggested_email:
        options = [(state.suggested_email, state.suggested_email)]
    else:
        options = choices_for(field) if field != DOMAIN_OTHER else []
    state.offered = [value for value, _label in options]
    turn.reply.add("ask", field=field, current=_display(state, field) if changing else None,
                   pending_domain=state.pending_domain, terms=terms() if field == "consent"
                   else None, suggested_email=state.suggested_email,
                   options=[{"value": v, "label": lbl} for v, lbl in options],
                   multiple=field in MULTIPLE_CHOICE_FIELDS,
                   card_from_location=bool(state.answers.get("card_from_location")),
                   card_errors=len(state.card.errors) if state.card else 0,
                   acknowledged=state.card_errors_acknowledged)
    turn.reply.choices = ChoiceSet(field, options, field in MULTIPLE_CHOICE_FIELDS) \
        if options else None


def _display(state: ConversationState, field: str) -> str | None:
    """A field's answer as a person reads it."""
    value = state.answers.get(field)
    if value is None:
        if field == "card" and state.answers.get("card_url"):
            return state.answers["card_url"]
        return None
    if field == "hosting":
        return dict(choices_for("hosting")).get(value, value)
    if field == "modalities":
        return ", ".join(value)
    if field == "domain":
        return value["value"] + (" (your suggestion)" if value.get("is_suggestion") else "")
    if field == "consent":
        return "agreed" if value.get("agreed") else None
    return str(value)


def _summary_context(state: ConversationState) -> dict[str, Any]:
    return {
        "reference": state.reference,
        "phase": str(state.phase),
        "fields": list(FIELD_ORDER),
        "values": {f: _display(state, f) for f in FIELD_ORDER},
        "missing": _missing(state),
        "card": state.card.model_dump() if state.card else None,
    }
