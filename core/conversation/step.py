"""The conversation as one function: stored state + inbound event -> new state, reply, effects.

No I/O here. The service around it loads and saves state, stores cards, fetches card
URLs, creates submissions and queues the reply in the outbox.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from core.cards.hf_tasks import modality_keys
from core.conversation.interpret import (
    Correction,
    clean_text,
    command_of,
    correction_of,
    field_pairs,
    is_agreement,
    is_greeting,
    is_intent,
    is_question,
    normalise,
    numbered_choices,
    yes_or_no,
)
from core.conversation.model import (
    Answers,
    Audit,
    CardFinding,
    CardInfo,
    ChoiceSet,
    ConsentAnswer,
    ConversationState,
    DomainAnswer,
    Effect,
    FetchCard,
    HoldForConfirmation,
    Inbound,
    Phase,
    Proposal,
    Question,
    Relay,
    Reply,
    StepContext,
    StepResult,
    StoreCard,
    Submit,
    Withdraw,
    stored_form,
)
from core.conversation.prose import read_prose
from core.fields import FIELD_ORDER, FieldError, choices_for, parse_field
from core.spec import modality_choices, terms
from core.status import FINAL
from core.trust import Hold, may_change_draft, may_change_submission

CONFIRM = Question.CONFIRM
DOMAIN_SUGGESTION = Question.DOMAIN_SUGGESTION
DOMAIN_OTHER = Question.DOMAIN_OTHER
PROPOSAL = Question.PROPOSAL
CANCEL = Question.CANCEL
CONSENT_CONFIRM = Question.CONSENT_CONFIRM
UNDO_DEPTH = 5
_STRONG_PROSE = ("name", "location", "card", "email")  # found by shape or by "called"
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
        # Consent counts only as the answer to the terms the last reply showed.
        self.terms_open = state.asking in ("consent", CONSENT_CONFIRM)

    def audit(self, action: str, **detail: Any) -> None:
        self.effects.append(Audit(action, detail))


def step(state: ConversationState, event: Inbound, ctx: StepContext) -> StepResult:
    """Advance the conversation by one inbound event; a turn that changed the draft
    (an answer, the card, a cancel or restart) can be taken back with ``undo``."""
    if (event.kind == "text" and state.phase is not Phase.SUBMITTED
            and command_of(clean_text(event.text)) == "undo"
            and may_change_draft(event.sender_trust, has_answers=bool(state.answers.given()),
                                 require_auth=ctx.require_sender_auth)):
        return _undo(state, ctx)
    result = _advance(state, event, ctx)
    if result.state.phase is Phase.SUBMITTED:
        result.state.undo = []
    elif state.phase is not Phase.SUBMITTED and _draft(result.state) != _draft(state):
        result.state.undo = [*state.undo, _snapshot(state)][-UNDO_DEPTH:]
    else:
        result.state.undo = list(state.undo)
    return result


def _draft(state: ConversationState) -> Any:
    """What ``undo`` takes back: the answers, the card (or where it comes from), whether
    it was cancelled."""
    return (state.answers, state.card.sha256 if state.card else None, state.card_url,
            state.card_from_location, state.phase is Phase.CANCELLED)


def _snapshot(state: ConversationState) -> dict[str, Any]:
    return state.model_dump(mode="json", exclude={"undo", "turns"})


def _undo(state: ConversationState, ctx: StepContext) -> StepResult:
    """Back to the state before the last turn that changed the draft."""
    turn = _Turn(state, ctx)
    turn.state.turns += 1
    if not state.undo:
        turn.reply.add("nothing_to_undo")
        if state.phase in (Phase.COLLECTING, Phase.CONFIRMING):
            _repeat_question(turn)
        return StepResult(turn.state, turn.reply, turn.effects)
    restored = ConversationState.model_validate({
        **state.undo[-1], "turns": turn.state.turns, "undo": state.undo[:-1],
        "reference": state.reference, "submission_id": state.submission_id,
        "suggested_email": state.suggested_email})
    if restored.phase is Phase.NEW:
        restored.phase = Phase.COLLECTING
    if restored.asking == CANCEL:  # undoing the cancel does not ask about it again
        restored.asking, restored.before_cancel = restored.before_cancel, None
    if restored.asking in FIELD_ORDER and restored.answers.get(restored.asking) is not None:
        # It was the "what should it be instead?" of a change: the old answer is back,
        # so the next question is the next one missing, not that field again.
        restored.asking = None
    fields = [f for f in FIELD_ORDER if restored.answers.get(f) != state.answers.get(f)]
    turn.state = restored
    turn.audit("conversation.undone", fields=fields,
               uncancelled=state.phase is Phase.CANCELLED)
    turn.reply.add("undone", cancelled=state.phase is Phase.CANCELLED, fields=fields,
                   values={f: _display(restored, f) for f in fields})
    _repeat_question(turn)
    return StepResult(turn.state, turn.reply, turn.effects)


def _advance(state: ConversationState, event: Inbound, ctx: StepContext) -> StepResult:
    """One event, as the contributor meant it."""
    turn = _Turn(state, ctx)
    turn.state.turns += 1
    if event.suggested_email and not turn.state.suggested_email:
        turn.state.suggested_email = event.suggested_email
    phase = turn.state.phase
    if event.kind == "resume" and phase not in (Phase.NEW, Phase.CANCELLED):
        _resume(turn)
        return StepResult(turn.state, turn.reply, turn.effects)
    if phase is not Phase.SUBMITTED and not may_change_draft(
            event.sender_trust, has_answers=bool(turn.state.answers.given()),
            require_auth=ctx.require_sender_auth):
        _hold(turn, event, Hold.ANY if ctx.require_sender_auth else Hold.DRAFT)
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


FINAL_STATUSES = FINAL  # read off core.status's one transition table


def _after_submission(turn: _Turn, event: Inbound) -> None:
    """Once submitted, what the contributor says goes to the reviewers' thread.

    Commands still work (``status``, ``help``, ``withdraw``, ``new``); a new card is
    stored as a new version and checked, and reviewers see it with its report.
    """
    state = turn.state
    text = clean_text(event.text) if event.kind == "text" else ""
    status = turn.ctx.submission_status or "submitted"
    command = command_of(text)
    if event.file is None and command in ("help", "status", "summary"):
        if command == "help":
            turn.reply.add("help", phase=str(state.phase), asking=None)
        turn.reply.add("already_submitted", reference=state.reference, status=status)
        return
    if not may_change_submission(event.sender_trust):
        _hold(turn, event, _held_action(event, command))
        return
    if event.file is None and command == "restart":
        turn.audit("conversation.restarted", after=state.reference)
        _start(turn, greet=True)
        _next_question(turn)
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


def _held_action(event: Inbound, command: str | None) -> Hold:
    if event.file is not None:
        return Hold.CARD
    if command in ("withdraw", "cancel"):
        return Hold.WITHDRAW
    if command == "restart":
        return Hold.RESTART
    return Hold.MESSAGE


def _hold(turn: _Turn, event: Inbound, action: Hold) -> None:
    """Nothing changes: the event is kept and the address on record is asked to confirm
    (the reply goes there, never to wherever the message claims to come from)."""
    turn.effects.append(HoldForConfirmation(action))
    turn.effects.append(Audit("sender.held_for_confirmation",
                              {"action": str(action), "trust": str(event.sender_trust)}))
    turn.reply.add("confirmation_needed", action=str(action),
                   reference=turn.state.reference)


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
    if state.asking in (PROPOSAL, CANCEL, CONSENT_CONFIRM, CONFIRM):
        picked = numbered_choices(text, state.offered)  # "1": the first button's value
        text = picked[0] if picked else text
    if state.asking == CANCEL:
        answer = yes_or_no(text)
        if answer is True:
            _cancel(turn)
            return True
        # Anything but yes keeps the draft; the text is not taken as an answer to the
        # question before (it is not the one on screen).
        state.asking, state.before_cancel = state.before_cancel, None
        state.offered = []
        turn.reply.add("cancel_kept")
        _repeat_question(turn)
        return True
    if state.asking == PROPOSAL and state.proposal is not None:
        answer = yes_or_no(text)
        if answer is True:
            _accept_proposal(turn)
            return False
        if answer is False:
            _decline_proposal(turn)
            return False
    correction = correction_of(text)
    if correction is not None:
        handled = _correct(turn, correction)
        if handled is not None:
            return handled
    if state.asking == PROPOSAL:
        # Labelled answers or another sentence replace what was understood; anything
        # else is not taken for the question before it (that one is not on screen).
        if not field_pairs(text) and _propose_from_prose(turn, text, asked=None):
            return False
        if not field_pairs(text):
            turn.reply.add("confirm_unclear")
            return False
        state.asking = state.proposal.then if state.proposal else None
        state.proposal = None
        state.offered = []  # the numbers shown were the proposal's
    pairs = field_pairs(text)
    if pairs:
        # The card last: "the README at the location" needs the location first.
        for key, value in sorted(pairs, key=lambda pair: pair[0] == "card"):
            _apply(turn, key, value, from_pairs=True)
        # A sentence beside the labels ("we keep our own hosting") answers too: shown
        # back for a yes, like any prose; a labelled answer wins over it.
        rest = "\n".join(line for line in text.split("\n") if not field_pairs(line))
        if rest.strip():
            _propose_from_prose(turn, rest, asked=None,
                                labelled=frozenset(key for key, _ in pairs))
        return False
    if state.asking not in ("consent", CONSENT_CONFIRM, CONFIRM) and is_agreement(text) \
            and "consent" not in state.answers:
        _apply(turn, "consent", text)  # shows the terms first
        return False
    if greeted:
        # A first "hello" or "I have a dataset" is not an answer yet; a first sentence
        # that names things is read, and shown back.
        _propose_from_prose(turn, text, asked=None)
        return False
    asking = state.asking
    if is_greeting(text):
        turn.reply.add("greeting_again")
        _repeat_question(turn)
        return True
    question = is_question(text) if asking in FIELD_ORDER else None
    if question is not None and not _plain_answer(asking, text):
        # Asked, not answered: the terms are shown (nothing recorded), anything else
        # is said to be for the reviewers; the question on screen stays.
        turn.reply.add("question_heard", about=question, asking=asking,
                       terms=terms() if question == "terms" else None)
        _repeat_question(turn)
        return True
    if asking in FIELD_ORDER and is_intent(text) and not read_prose(text).found():
        # "I want to share a dataset about coral reefs" is why they came, not a name
        turn.reply.add("intent_heard")
        _repeat_question(turn)
        return True
    suggestion = state.suggestion
    state.suggestion = None
    if suggestion and suggestion["field"] == asking and yes_or_no(text) is True:
        _apply(turn, asking, suggestion["value"])
        return False
    if asking == CONSENT_CONFIRM:
        _apply(turn, "consent", "yes" if yes_or_no(text) is True else text)
        consent = state.answers.consent
        if consent is not None and consent.agreed:
            return _confirm(turn, "yes")
        return False
    if asking == CONFIRM:
        if is_agreement(text):
            text = "yes"  # "yes, I agree" under the summary
        if yes_or_no(text) is None and normalise(text) not in ("yes", "submit") \
                and _propose_from_prose(turn, text, asked=None):
            return False
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
        elif not _propose_from_prose(turn, text, asked=asking):
            _apply(turn, asking, text)
    return False


# -- prose and corrections ---------------------------------------------------------------

def _plain_answer(field: str, text: str) -> bool:
    """Whether ``text`` is simply an answer to ``field`` (then prose is not looked for)."""
    if field not in FIELD_ORDER or field == "card":
        return False
    try:
        parsed = parse_field(field, text)
    except FieldError:
        return False
    return not (field == "domain" and getattr(parsed, "is_suggestion", False))


def _propose_from_prose(turn: _Turn, text: str, asked: str | None,
                        labelled: frozenset[str] = frozenset()) -> bool:
    """Read ``text`` for answers; show what was found in one question. True if shown.

    An answer to the question asked stays an answer (a name that contains "Images" is
    a name), unless the text also holds a link, an address or a "called ...".
    ``labelled``: fields the same message answered with a label, not read again here.
    """
    state = turn.state
    found = {f: v for f, v in read_prose(text).found().items() if f not in labelled}
    if not found:
        return False
    if asked is not None:
        strong_elsewhere = [f for f in found if f in _STRONG_PROSE and f != asked]
        if _plain_answer(asked, text) and not strong_elsewhere and not (
                asked == "name" and found.get("name", text) != text.strip()):
            return False
        if asked == "card" and set(found) <= {"card", "location"}:
            return False  # a link as the card's answer: fetched as the card
        if set(found) == {asked} and asked != "name":
            # An answer to the question asked, in a sentence ("we'll keep it ourselves",
            # "it's at https://..."): what the sentence says for that field.
            _apply(turn, asked, found[asked])
            return True
    values: dict[str, str] = {}
    upgraded = False
    for field, raw in found.items():
        if field == "card":
            values[field] = raw
            continue
        try:
            parsed = parse_field(field, raw)
        except FieldError as error:
            suggestion = error.context.get("suggestion")
            if field != "location" or not isinstance(suggestion, str):
                continue
            raw, upgraded = suggestion, upgraded or error.code == "location_http"
            parsed = parse_field(field, raw)
        if field == "domain" and getattr(parsed, "is_suggestion", False):
            continue
        if stored_form(field, parsed) == state.answers.get(field):
            continue  # already the answer: nothing to confirm
        values[field] = raw
    if not values:
        return False
    _propose(turn, values, upgraded=upgraded)
    return True


def _propose(turn: _Turn, values: dict[str, str], *, upgraded: bool = False) -> None:
    """Show ``values`` for one yes. A proposal still open keeps what the new one does not
    name: "text" after "I understood: name X, location Y" adds to it, never drops it."""
    state = turn.state
    then = state.proposal.then if state.asking == PROPOSAL and state.proposal else state.asking
    if state.asking == PROPOSAL and state.proposal is not None:
        earlier = state.proposal
        if "location" not in values:  # the link shown as https:// is still the earlier one
            upgraded = upgraded or earlier.upgraded
        values = {**earlier.values, **values}
    state.proposal = Proposal(values=values, then=then, upgraded=upgraded)
    state.asking = PROPOSAL
    turn.audit("prose.proposed", fields=list(values))


def _accept_proposal(turn: _Turn) -> None:
    state = turn.state
    proposal = state.proposal
    assert proposal is not None
    state.proposal, state.asking = None, proposal.then
    turn.audit("prose.confirmed", fields=list(proposal.values))
    for field, value in sorted(proposal.values.items(), key=lambda item: item[0] == "card"):
        _apply(turn, field, value, from_pairs=True)


def _decline_proposal(turn: _Turn) -> None:
    state = turn.state
    proposal = state.proposal
    assert proposal is not None
    state.proposal, state.asking = None, proposal.then
    turn.audit("prose.declined", fields=list(proposal.values))
    turn.reply.add("proposal_declined", fields=list(proposal.values))


def _correct(turn: _Turn, correction: Correction) -> bool | None:
    """Apply a correction; None when it cannot tell which field is meant."""
    state = turn.state
    field, value, certain = correction.field, correction.value, correction.field is not None
    if field is None:
        if value is None:
            return None
        field, certain = _field_for(state, value)
        if field is None:
            return None
    turn.audit("field.change_requested", field=field)
    if state.asking == PROPOSAL and state.proposal is not None:
        state.proposal.values.pop(field, None)
        if not state.proposal.values:
            state.asking, state.proposal = state.proposal.then, None
    if value is None:
        _ask(turn, field, changing=True)
        return True
    if certain or field == "card":
        _apply(turn, field, value)
    elif _plain_answer(field, value):
        _propose(turn, {field: value})
    else:
        return None
    return False


def _field_for(state: ConversationState, value: str) -> tuple[str | None, bool]:
    """Which field a bare "I meant ..." corrects, and whether that is certain: by its
    shape (an address, a link), else the question open, else a guess to confirm."""
    found = read_prose(value).found()
    asking = state.asking
    if "email" in found and len(found) == 1:
        return "email", True
    if "card" in found:
        return "card", True
    if "location" in found:
        return ("card" if asking == "card" else "location"), True
    # The open question, unless the words cannot answer it: a card is a file or a link
    # (those were found above), consent a yes; "actually Climate" there names another.
    if asking in FIELD_ORDER and (asking not in ("consent", "card")
                                  or _plain_answer(asking, value)):
        return asking, True
    if asking in (DOMAIN_OTHER, DOMAIN_SUGGESTION):
        return "domain", True
    for field in ("hosting", "modalities", "domain"):
        if _plain_answer(field, value):
            return field, False
    if state.last_set in ("name",):
        return state.last_set, False
    return None, False


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
        if state.asking == CANCEL or not state.answers.given():
            _cancel(turn)
        else:  # eight answers are not thrown away on one word
            state.before_cancel = state.asking
            _ask(turn, CANCEL)
    elif command == "restart":
        turn.audit("conversation.restarted")
        _start(turn, greet=False)
        turn.reply.add("restarted")
        _next_question(turn)
    elif command == "skip":
        _skip(turn)
    return True


def _skip(turn: _Turn) -> None:
    """"skip", "later", "I don't know": that question comes after the others; it is still
    needed before the contribution can be submitted."""
    state = turn.state
    field = state.asking
    if field not in FIELD_ORDER or state.phase is not Phase.COLLECTING:
        turn.reply.add("cannot_skip")
        _repeat_question(turn)
        return
    state.skipped = [f for f in state.skipped if f != field] + [field]
    turn.audit("field.skipped", field=field)
    turn.reply.add("skipped", field=field, last=state.missing() == [field])
    state.asking = None
    _next_question(turn)


def _cancel(turn: _Turn) -> None:
    state = turn.state
    turn.audit("conversation.cancelled", answers=sorted(state.answers.given()))
    state.phase = Phase.CANCELLED
    state.asking = state.before_cancel = None
    state.proposal = None
    turn.reply.add("cancelled", can_undo=bool(state.answers.given()))


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
    if field == "consent" and not turn.terms_open:
        current = state.answers.consent
        if current is not None and current.agreed and yes_or_no(text) is not False:
            return  # agreed already, to the terms shown then
        # An early "I agree" or "terms: sure": the terms are shown and asked, once
        # (with the summary, when nothing else is missing).
        turn.reply.add("consent_terms_first")
        state.asking = "consent"
        state.consent_early = True
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
            state.answers.consent = None
            turn.reply.add("consent_declined")
            state.asking = "consent"
            return
        value: Any = ConsentAnswer(agreed=True, at=turn.ctx.now)
    elif field == "modalities":
        value = list(parsed.values)
    elif field == "domain":
        value = DomainAnswer(value=parsed.value, is_suggestion=False)
    else:
        value = parsed.value
    _set(turn, field, value)


def _set(turn: _Turn, field: str, value: Any) -> None:
    state = turn.state
    previous = state.answers.get(field)
    setattr(state.answers, field, value)  # validated: a wrong shape raises here
    if state.asking == field or (field == "domain"
                                 and state.asking in (DOMAIN_SUGGESTION, DOMAIN_OTHER)):
        state.asking = None
    if field == "domain":
        state.pending_domain = None
    turn.changed.append(field)
    state.last_set = field
    if state.proposal is not None and state.proposal.then == field:
        state.proposal.then = None  # answered meanwhile: not asked again after the proposal
    if field == "consent":
        state.consent_early = False
    turn.audit("field.set", field=field, value=_plain(value), previous=_plain(previous))


def _plain(value: Any) -> Any:
    """An answer as the audit log keeps it: JSON, as stored in the state."""
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def _receive_choice(turn: _Turn, field: str, values: list[str]) -> None:
    """A button, checkbox or numbered pick: the values are the options' own values."""
    if field == CONFIRM:
        _confirm(turn, values[0] if values else "")
        return
    if field in (PROPOSAL, CANCEL, CONSENT_CONFIRM):  # only the open question counts
        if turn.state.asking == field:
            _receive_text(turn, values[0] if values else "", greeted=False)
        return
    if field == "consent":
        turn.terms_open = True  # the buttons sit under the terms
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
    turn.terms_open = True  # the form shows the terms above its checkbox
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
            _set(turn, "domain", DomainAnswer(value=parsed.value,
                                              is_suggestion=parsed.is_suggestion))
    if event.text:  # the card could not be downloaded
        turn.reply.add("card_fetch_failed", reason=event.text)
        state.asking = "card"
    _acknowledge(turn)
    if (state.asking and state.asking != CONFIRM) or state.missing():
        _next_question(turn)
        return
    state.phase = Phase.CONFIRMING
    turn.reply.add("summary", **_summary_context(state))
    _confirm(turn, "yes", problems_shown=False)


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
        _set(turn, "domain", DomainAnswer(value=state.pending_domain, is_suggestion=True))
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
        state.card_url = url
        return
    if not said or _USE_README.match(said):
        location = state.answers.location
        url = turn.ctx.card_url_for_location(location) if location else None
        if url:
            turn.effects.append(FetchCard(url))
            turn.audit("card.fetch_requested", url=url)
            state.card_url = url
        elif from_pairs and not said:
            state.card_from_location = True
        else:
            turn.reply.add("card_needs_file", location=location)
            state.asking = "card"
        return
    turn.reply.add("card_needs_file", location=state.answers.location, said=text[:200])
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
    labels = {label.split()[0].casefold(): label for label in modality_choices()}
    keys = modality_keys(list(getattr(report, "task_categories", [])),
                         list(getattr(report, "tags", [])))
    turn.state.card = CardInfo(
        filename=event.file.filename, sha256=report.sha256, size=report.size,
        verdict=report.verdict, findings=[
            CardFinding(severity=f.severity, field=f.field, code=f.code,
                        context=dict(f.context)) for f in report.errors + report.warnings],
        source_url=event.file.source_url,
        pretty_name=getattr(report, "pretty_name", None),
        modalities=[labels[key] for key in keys if key in labels])
    turn.state.card_errors_acknowledged = False
    turn.state.answers.card = event.file.filename
    turn.reply.add("card_received", report=report.to_dict(), filename=event.file.filename,
                   replaced=replaced)
    if turn.state.asking == "card":
        turn.state.asking = None


# -- confirmation and submission ----------------------------------------------------------

def _confirm(turn: _Turn, text: str, *, problems_shown: bool = True) -> bool:
    """Yes submits. The summary already listed the card's problems and offered "submit
    anyway", so a yes to it is that; only the Slack form, which did not show them, asks."""
    state = turn.state
    answer = yes_or_no(text)
    if answer is None and normalise(text) in ("yes", "submit"):
        answer = True
    if answer is True and problems_shown and state.card and state.card.error_count:
        state.card_errors_acknowledged = True
    if answer is True:
        if state.card and state.card.error_count and not state.card_errors_acknowledged:
            state.card_errors_acknowledged = True
            turn.reply.add("card_errors_before_submit", card=state.card.shown())
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
    state = turn.state
    if turn.changed:
        turn.reply.add("understood", fields=turn.changed,
                       values={f: _display(state, f) for f in turn.changed})
    card_name = state.card.pretty_name if state.card else None
    name = state.answers.name
    if card_name and name is not None and state.card_name_noted != card_name \
            and _name_key(name) != _name_key(card_name):
        state.card_name_noted = card_name  # said once; the contributor decides
        turn.reply.add("card_name_differs", name=name, card_name=card_name)


def _name_key(name: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", name.casefold()).split())


def _next_question(turn: _Turn) -> None:
    state = turn.state
    if state.phase is not Phase.COLLECTING and state.phase is not Phase.CONFIRMING:
        return
    missing = state.missing()
    if state.consent_early and missing == ["consent"] and state.asking in (
            "consent", CONSENT_CONFIRM, CONFIRM, None):
        state.phase = Phase.CONFIRMING  # agreed early: the terms and the summary, one question
        turn.reply.add("summary", **_summary_context(state))
        _ask(turn, CONSENT_CONFIRM)
        return
    if state.asking and state.asking not in (CONFIRM, CONSENT_CONFIRM):
        _ask(turn, state.asking)
        return
    if missing:
        state.phase = Phase.COLLECTING
        waiting = [f for f in missing if f not in state.skipped]  # skipped ones come last
        _ask(turn, (waiting or [f for f in state.skipped if f in missing] or missing)[0])
        return
    state.phase = Phase.CONFIRMING
    turn.reply.add("summary", **_summary_context(state))
    _ask(turn, CONFIRM)


def _ask(turn: _Turn, field: str, changing: bool = False) -> None:
    """Put the question for ``field`` at the end of the reply, with its choices."""
    state = turn.state
    state.asking = field
    if field not in (CONFIRM, CONSENT_CONFIRM) and state.phase is Phase.CONFIRMING:
        state.phase = Phase.COLLECTING
    options: list[tuple[str, str]]
    if field == CONFIRM:
        options = [("yes", "Submit anyway" if state.card and state.card.error_count else "Submit"),
                   ("no", "Change something")]
    elif field == PROPOSAL:
        options = [("yes", "Yes, right"), ("no", "No")]
    elif field == CONSENT_CONFIRM:
        options = [("yes", "I agree, submit"), ("no", "I do not agree")]
    elif field == CANCEL:
        options = [("yes", "Yes, cancel it"), ("no", "No, keep going")]
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
    card = state.card
    from_card: str | None = None  # what the card says for this field, offered with "yes"
    if card and not changing and field not in state.answers and state.suggestion is None:
        if field == "name" and card.pretty_name:
            from_card = card.pretty_name
        elif field == "modalities" and card.modalities:
            from_card = ", ".join(card.modalities)
        if from_card:
            state.suggestion = {"field": field, "value": from_card}
    turn.reply.add("ask", field=field, current=_display(state, field) if changing else None,
                   proposal=_proposal_items(state) if field == PROPOSAL else [],
                   upgraded=bool(state.proposal and state.proposal.upgraded),
                   from_card=from_card,
                   answer_count=len(state.answers.given()),
                   pending_domain=state.pending_domain,
                   terms=terms() if field in ("consent", CONSENT_CONFIRM) else None,
                   suggested_email=state.suggested_email,
                   options=[{"value": v, "label": lbl} for v, lbl in options],
                   multiple=field in MULTIPLE_CHOICE_FIELDS,
                   card_from_location=state.card_from_location,
                   card_errors=state.card.error_count if state.card else 0,
                   acknowledged=state.card_errors_acknowledged)
    turn.reply.choices = ChoiceSet(field, options, field in MULTIPLE_CHOICE_FIELDS) \
        if options else None


def _proposal_items(state: ConversationState) -> list[dict[str, str]]:
    """The proposal as it will be stored: each field and its value, shown."""
    items: list[dict[str, str]] = []
    for field, text in (state.proposal.values.items() if state.proposal else []):
        shown = text
        if field != "card":
            try:
                parsed = parse_field(field, text)
            except FieldError:
                continue
            preview = state.model_copy(update={"answers": Answers.model_validate(
                {field: stored_form(field, parsed)})})
            shown = _display(preview, field) or text
        items.append({"field": field, "value": shown})
    return items


def _display(state: ConversationState, field: str) -> str | None:
    """A field's answer as a person reads it."""
    value = state.answers.get(field)
    if value is None:
        return state.card_url if field == "card" else None
    if field == "hosting":
        return dict(choices_for("hosting")).get(value, value)
    if field == "modalities":
        return ", ".join(value)
    if isinstance(value, DomainAnswer):
        return value.value + (" (your suggestion)" if value.is_suggestion else "")
    if isinstance(value, ConsentAnswer):
        return "agreed" if value.agreed else None
    return str(value)


def _summary_context(state: ConversationState) -> dict[str, Any]:
    return {
        "reference": state.reference,
        "phase": str(state.phase),
        "fields": list(FIELD_ORDER),
        "values": {f: _display(state, f) for f in FIELD_ORDER},
        "missing": state.missing(),
        "card": state.card.shown() if state.card else None,
    }
