"""The Slack channel for the inbound worker: a logged request body read into core facts.

``translate`` runs outside any transaction: it reads the stored body (an event, a
click, a form, a review decision) and asks Slack what the body does not say (the
profile's e-mail, a shared file's bytes, the review channel's members), each call
bounded by a timeout. ``apply`` runs in the event's one transaction and only calls
the core: a conversation turn, a review decision, and the adapter's own notes queued
in the outbox with it. Each logged body is processed once (the log is the record);
a clicked question is answered once however often it is clicked.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.blocks import (
    MULTI_ACTION,
    MULTI_DONE_ACTION,
    OPEN_FORM_ACTION,
    QuestionId,
    chosen_labels,
)
from bot.files import Downloader, DownloadFailed, SlackFile, choose_card
from bot.modal import FORM_CALLBACK, read_form
from bot.profiles import ProfileEmails
from bot.text import message_text
from bot.texts import Texts
from core import repository
from core.conversation import CardFile, Inbound
from core.inbound import StoredEvent
from core.metrics import Metrics
from core.outbox import enqueue
from core.review import CONTRIBUTOR_PREFIX, Decision, Reviewer, ReviewerFacts, may_decide
from core.service import ConversationKey

if TYPE_CHECKING:
    from bot.review import ReviewThreads
    from core.worker import Unit

log = logging.getLogger(__name__)
CHANNEL = "slack"
FORM_OPENED = "intake_form_opened"  # added to a logged body: did views.open succeed
MODAL_OPENED = "intake_modal_opened"
PROFILE_TIMEOUT = 2.0


def template(name: str, **context: Any) -> dict[str, Any]:
    """A part of a message the deliverer renders from ``templates/slack``."""
    return {"template": name, "context": context}


# Subtypes that are a person's own words: typed, with files, ``/me``, a thread reply also
# sent to the conversation. The rest (bot_message, channel_join, ...) is not theirs.
PERSON_SUBTYPES = frozenset({None, "file_share", "me_message", "thread_broadcast"})
CHANGES = ("message_changed", "message_deleted")
_LEADING = re.compile(r"^(?:\s|@[UWB][A-Z0-9]+|[*_~`])*")


def is_contributor_dm(event: dict[str, Any]) -> bool:
    """A person's own message in a DM with the bot: not an edit, a deletion, or a bot."""
    if event.get("channel_type") != "im" or event.get("bot_id") or not event.get("user"):
        return False
    return event.get("subtype") in PERSON_SUBTYPES


def dm_thread(event: dict[str, Any]) -> str | None:
    """The thread of the DM a message was written in (None at the top level)."""
    thread = event.get("thread_ts")
    return str(thread) if thread and thread != event.get("ts") else None


def changed_message(event: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """A person's message edited or deleted: (before, after), ``after`` empty if deleted.

    None when it is not a person's (a bot's, the bot's own) or when the words stayed the
    same: Slack also sends ``message_changed`` for a link preview, a thread's reply count
    or a language tag, and those are no news to anyone.
    """
    if event.get("subtype") not in CHANGES:
        return None
    before = event.get("previous_message") or {}
    after = (event.get("message") or {}) if event.get("subtype") == "message_changed" \
        else {}
    person = before.get("user") or after.get("user")
    if not person or before.get("bot_id") or after.get("bot_id") or \
            before.get("subtype") not in PERSON_SUBTYPES:
        return None
    if after and message_text(after).strip() == message_text(before).strip():
        return None
    return before, after


def dm_change(event: dict[str, Any]) -> str | None:
    """Who edited or deleted their message in a DM with the bot, if the words changed."""
    if event.get("channel_type") != "im":
        return None
    changed = changed_message(event)
    if changed is None:
        return None
    before, after = changed
    return str(before.get("user") or after.get("user"))


def contributor_words(text: str) -> str | None:
    """A reviewer's words for the contributor, if the reply starts with the core's prefix.

    Leading mentions (``@bot to contributor: ...``) and formatting (the parent message
    shows the prefix in bold, and people copy it) do not hide it; case does not matter.
    """
    rest = _LEADING.sub("", text, count=1)
    if not rest.lower().startswith(CONTRIBUTOR_PREFIX):
        return None
    return rest[len(CONTRIBUTOR_PREFIX):].lstrip("*_~` \t").strip()


def addressed_to_contributor(event: dict[str, Any]) -> bool:
    """A reviewer's thread reply meant for the contributor (the core's prefix)."""
    return contributor_words(message_text(event)) is not None


def idempotency_key(body: dict[str, Any]) -> str:
    """Slack's own id for what this body is: an event id, a click, a view, a trigger."""
    if body.get("event_id"):
        return f"event:{body['event_id']}"
    if body.get("type") == "event_callback" or body.get("event"):
        event = body.get("event") or {}  # Socket Mode tests: channel and timestamp
        return f"event:{event.get('channel', '')}:{event.get('event_ts') or event.get('ts')}"
    if body.get("type") == "block_actions":
        container = body.get("container") or {}
        action = (body.get("actions") or [{}])[0]
        return (f"action:{container.get('channel_id') or container.get('view_id', '')}:"
                f"{container.get('message_ts', '')}:{action.get('action_ts', '')}")
    if body.get("type") == "view_submission":
        return f"view:{(body.get('view') or {}).get('id', '')}"
    return f"trigger:{body.get('trigger_id', '')}"


def user_of(body: dict[str, Any]) -> str:
    """Whose event it is: the order key (one person's events are taken in order)."""
    event = body.get("event") or {}
    edited = (event.get("previous_message") or {}).get("user") or \
        (event.get("message") or {}).get("user")
    return str(event.get("user") or edited or (body.get("user") or {}).get("id")
               or body.get("user_id") or "")


# -- what a body means ---------------------------------------------------------------------

async def _in_thread(unit: Unit, outbox_ids: list[int], thread_ts: str | None) -> None:
    """The turn's replies go to the DM thread the person wrote (or clicked) in."""
    if not thread_ts:
        return
    for outbox_id in outbox_ids:
        await unit.annotate(outbox_id, "slack", {"thread_ts": thread_ts})


@dataclass(frozen=True)
class Turns:
    """Turns of one contributor's conversation, answered in one DM."""

    user: str
    kind: str
    inbounds: tuple[Inbound, ...] = ()
    notes: tuple[dict[str, Any], ...] = ()  # the adapter's own messages, before the reply
    after: tuple[dict[str, Any], ...] = ()  # and after it (the mention's thread note)
    only_if_new: bool = False  # the DM opened: greet only someone who never wrote
    thread_ts: str | None = None  # they wrote in a thread of the DM: answer there


@dataclass(frozen=True)
class Click:
    """A click on a question the core asked in message ``question.outbox_id``."""

    user: str
    question: QuestionId
    inbound: Inbound
    answered_once_key: str
    update: dict[str, Any]
    labels: list[str] = field(default_factory=list)
    answered: bool = True
    thread_ts: str | None = None  # the question was in a thread of the DM: go on there


@dataclass(frozen=True)
class ReviewAct:
    """A reviewer's decision (a button, the modal, ``to contributor:`` in the thread).

    ``decision`` None: a click whose modal the listener opened (or refused to open).
    """

    reviewer: Reviewer
    facts: ReviewerFacts
    channel: str
    decision: Decision | None
    reference: str | None = None
    thread_ts: str | None = None
    text: str = ""
    notes: tuple[dict[str, Any], ...] = ()  # ephemeral notes to the reviewer, if it applied


@dataclass(frozen=True)
class Nothing:
    """Logged, but nothing for the core (a bot's event, a checkbox tick)."""

    kind: str


class SlackHandler:
    """Registered as ``runtime.handlers["slack"]`` by ``WebAdapter.register``."""

    channel = CHANNEL

    def __init__(self, texts: Texts, downloader: Downloader, profiles: ProfileEmails,
                 metrics: Metrics, max_card_bytes: int,
                 review: ReviewThreads | None = None) -> None:
        self.texts = texts
        self.downloader = downloader
        self.profiles = profiles
        self.metrics = metrics
        self.max_card_bytes = max_card_bytes
        self.review = review

    # -- translate: the body as facts (Slack asked, never the database) --------------------

    async def translate(self, event: StoredEvent) -> Turns | Click | ReviewAct | Nothing:
        body = event.payload
        kind = body.get("type")
        if kind == "event_callback" or body.get("event"):
            return await self._event(body.get("event") or {})
        if kind == "block_actions":
            return await self._action(body)
        if kind == "view_submission":
            return await self._view(body)
        return self._form_opened(body)  # a command or a shortcut

    @staticmethod
    def _form_opened(body: dict[str, Any]) -> Turns | Nothing:
        """The listener opened the form (``views.open`` cannot wait): a failure is told."""
        if body.get(FORM_OPENED) is False:
            return Turns(user_of(body), "form_open_failed",
                         notes=({"kind": "dm", "parts": [template("form_open_failed")]},))
        return Nothing("form_opened")

    async def _email(self, user: str) -> str | None:
        return await self.profiles.email(user, timeout=PROFILE_TIMEOUT)

    async def _event(self, event: dict[str, Any]) -> Turns | ReviewAct | Nothing:
        user = str(event.get("user") or "")
        if event.get("type") == "message":
            if self.review is not None and self.review.is_thread_edit(event):
                return self._thread_edit(event)
            if self.review is not None and self.review.is_thread_reply(event):
                return await self._thread_reply(event, user)
            edited_by = dm_change(event)
            if edited_by is not None:
                deleted = event.get("subtype") == "message_deleted"
                return Turns(edited_by, "dm_deleted" if deleted else "dm_edited", notes=(
                    {"kind": "dm", "parts": [template("message_changed", deleted=deleted)]},))
            if not is_contributor_dm(event):
                return Nothing("ignored")
            return await self._dm(event, user)
        if event.get("type") == "app_mention":
            thread = {"kind": "thread", "channel": event.get("channel", ""),
                      "thread_ts": event.get("thread_ts") or event.get("ts"),
                      "parts": [template("mention_moved", user_id=user)]}
            return Turns(user, "mention", (Inbound("resume",
                                                   suggested_email=await self._email(user)),),
                         after=(thread,))
        if event.get("type") == "app_home_opened" and user:
            if event.get("tab") == "home":
                return Turns(user, "home", notes=({"kind": "home"},))
            return Turns(user, "greeting", (Inbound("resume",
                                                    suggested_email=await self._email(user)),),
                         only_if_new=True)
        return Nothing("ignored")

    async def _thread_reply(self, event: dict[str, Any], user: str) -> ReviewAct:
        """``to contributor: ...`` in a review thread: a question; files are not passed on."""
        assert self.review is not None
        files = [SlackFile.from_slack(f).name for f in event.get("files") or []]
        notes = ({"kind": "ephemeral", "channel": self.review.channel,
                  "thread_ts": str(event["thread_ts"]),
                  "parts": [template("review_files_not_relayed", filenames=files)]},
                 ) if files else ()
        return ReviewAct(await self._reviewer(user, None), await self.review.facts(user),
                         self.review.channel, Decision.ASK, thread_ts=str(event["thread_ts"]),
                         text=contributor_words(message_text(event)) or "", notes=notes)

    def _thread_edit(self, event: dict[str, Any]) -> Turns | Nothing:
        """A reviewer changed a reply that was (or now is) for the contributor: it was not
        passed on again, and they are told so where they made it."""
        assert self.review is not None
        changed = changed_message(event)
        if changed is None:
            return Nothing("ignored")
        before, after = changed
        reviewer = str(before.get("user") or after.get("user"))
        thread_ts = str(before.get("thread_ts") or after.get("thread_ts"))
        note = {"kind": "ephemeral", "channel": self.review.channel, "thread_ts": thread_ts,
                "parts": [template("review_edit_not_relayed", deleted=not after,
                                   prefix=CONTRIBUTOR_PREFIX)]}
        return Turns(reviewer, "review_edit", notes=(note,))

    async def _dm(self, event: dict[str, Any], user: str) -> Turns:
        """Typed text, a shared file (the card), or both; answered in the thread it was
        written in, if any."""
        return dataclasses.replace(await self._dm_turns(event, user),
                                   thread_ts=dm_thread(event))

    async def _dm_turns(self, event: dict[str, Any], user: str) -> Turns:
        text = message_text(event)
        suggested = await self._email(user)
        said = (Inbound("text", text=text, suggested_email=suggested),) if text.strip() else ()
        files = event.get("files") or []
        if not files:
            return Turns(user, "message", (Inbound("text", text=text,
                                                   suggested_email=suggested),))
        card, others = choose_card(files)
        try:
            card = await self.downloader.complete(card)
        except SlackApiError:
            log.warning("files.info failed for %s", card.id)
        if card.too_large(self.max_card_bytes):
            note = {"kind": "dm", "parts": [template(
                "file_too_large", filename=card.name, size=card.size,
                limit=self.max_card_bytes)]}
            return Turns(user, "file_too_large", said, notes=(note,))
        try:
            data = await self.downloader.fetch(card)
        except DownloadFailed as failure:
            log.warning("could not download %s: %s", card.id, failure.code)
            reason = self.texts.render("download_failed", code=failure.code)
            return Turns(user, "file_failed", (*said, Inbound(
                "card_fetch_failed", text=reason, suggested_email=suggested)))
        return Turns(user, "file", (Inbound(
            "text" if text.strip() else "file", text=text, file=CardFile(card.name, data),
            suggested_email=suggested, ignored_attachments=tuple(others)),))

    async def _action(self, body: dict[str, Any]) -> Turns | Click | ReviewAct | Nothing:
        action = (body.get("actions") or [{}])[0]
        action_id = str(action.get("action_id") or "")
        user = str((body.get("user") or {}).get("id") or "")
        if self.review is not None and self.review.decision_of(action_id) is not None:
            decision = self.review.decision_of(action_id)
            channel = (body.get("channel") or {}).get("id") or self.review.channel
            return ReviewAct(await self._reviewer(user, body), await self.review.facts(user),
                             channel, decision if decision == Decision.APPROVE else None,
                             reference=str(action.get("value") or ""))
        if action_id == OPEN_FORM_ACTION:
            return self._form_opened(body)
        question = QuestionId.parse(action.get("block_id"))
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if question is None or not user or not channel or not ts:
            return Nothing("ignored")
        selected: list[dict[str, Any]] = []
        if action_id == MULTI_DONE_ACTION:
            state = ((body.get("state") or {}).get("values") or {}).get(question.block_id) or {}
            selected = (state.get(MULTI_ACTION) or {}).get("selected_options") or []
            values = [o["value"] for o in selected]
        elif action.get("selected_option"):
            values = [action["selected_option"]["value"]]
        else:
            values = [action.get("value", "")]
        message = body.get("message") or {}
        update = {"kind": "update", "channel": channel, "ts": ts,
                  "block_id": question.block_id, "blocks": message.get("blocks") or [],
                  "text": message.get("text") or ""}
        inbound = Inbound("choice", field=question.field, values=tuple(values),
                          suggested_email=await self._email(user))
        thread = container.get("thread_ts")
        return Click(user, question, inbound, f"click:{channel}:{ts}", update,
                     chosen_labels(action, selected), any(values),
                     str(thread) if thread and thread != ts else None)

    async def _view(self, body: dict[str, Any]) -> Turns | ReviewAct | Nothing:
        view = body.get("view") or {}
        user = str((body.get("user") or {}).get("id") or "")
        if view.get("callback_id") == FORM_CALLBACK:
            return await self._form(view, user)
        if self.review is not None and view.get("callback_id") == self.review.modal_callback:
            try:
                metadata = json.loads(view.get("private_metadata") or "{}")
                decision = Decision(metadata["decision"])
            except (ValueError, KeyError, TypeError):
                return Nothing("ignored")
            return ReviewAct(await self._reviewer(user, body), await self.review.facts(user),
                             metadata.get("channel") or self.review.channel, decision,
                             reference=str(metadata.get("reference") or ""),
                             text=self.review.modal_text(view))
        return Nothing("ignored")

    async def _form(self, view: dict[str, Any], user: str) -> Turns:
        """A valid form (the listener checked it): one ``form`` turn, with the card."""
        answers = read_form(view)
        card: CardFile | None = None
        failure = ""
        if answers.card is not None:
            file = SlackFile.from_slack(answers.card)
            try:
                file = await self.downloader.complete(file)
                card = CardFile(file.name, await self.downloader.fetch(file))
            except DownloadFailed as error:
                failure = self.texts.render("download_failed", code=error.code)
            except SlackApiError:
                failure = self.texts.render("download_failed", code="missing_url")
        return Turns(user, "form", (Inbound("form", form=dict(answers.values), file=card,
                                            text=failure,
                                            suggested_email=await self._email(user)),))

    async def _reviewer(self, user: str, body: dict[str, Any] | None) -> Reviewer:
        person = (body or {}).get("user") or {}
        name = person.get("name") or person.get("username") or None
        return Reviewer(user, CHANNEL, name=name, email=await self._email(user))

    # -- apply: the core, in the event's transaction ---------------------------------------

    async def apply(self, unit: Unit, translated: Turns | Click | ReviewAct | Nothing) -> str:
        if isinstance(translated, Turns):
            return await self._turns(unit, translated)
        if isinstance(translated, Click):
            return await self._click(unit, translated)
        if isinstance(translated, ReviewAct):
            return await self._review(unit, translated)
        return translated.kind

    def _count(self, unit: Unit, name: str, label: str = "", value: str = "") -> None:
        """A counter, once the transaction committed."""

        async def count() -> None:
            self.metrics.inc(name, label, value)

        unit.after_commit.append(count)

    async def _turns(self, unit: Unit, turns: Turns) -> str:
        session = unit.session
        if turns.only_if_new and await repository.slack_conversation_state(
                session, turns.user) is not None:
            return "greeted_before"
        in_thread = {"thread_ts": turns.thread_ts} if turns.thread_ts else {}
        for note in turns.notes:
            enqueue(session, CHANNEL, turns.user,
                    {**note, "slack": in_thread} if in_thread and note.get("kind") == "dm"
                    else note)
        reply: int | None = None
        for inbound in turns.inbounds:  # several turns, one DM
            outcome = await unit.turn(ConversationKey(CHANNEL, turns.user), inbound,
                                      merge_into=reply)
            if reply is None and outcome.outbox_ids:
                reply = outcome.outbox_ids[-1]
            await _in_thread(unit, outcome.outbox_ids, turns.thread_ts)
        for note in turns.after:
            enqueue(session, CHANNEL, turns.user, note)
        self._count(unit, "intake_slack_events_total", "kind", turns.kind)
        return turns.kind

    async def _click(self, unit: Unit, click: Click) -> str:
        session = unit.session
        if not await repository.slack_first_time(session, click.answered_once_key):
            self._count(unit, "intake_slack_duplicates_total")
            return "choice_duplicate"
        if await repository.slack_newer_reply_exists(session, click.user,
                                                     click.question.outbox_id):
            enqueue(session, CHANNEL, click.user,
                    {**click.update, "note": template("choice_stale")})
            self._count(unit, "intake_slack_events_total", "kind", "choice_stale")
            return "choice_stale"
        outcome = await unit.turn(ConversationKey(CHANNEL, click.user), click.inbound)
        await _in_thread(unit, outcome.outbox_ids, click.thread_ts)
        if click.answered:
            enqueue(session, CHANNEL, click.user,
                    {**click.update, "note": template("choice_made", labels=click.labels)})
        self._count(unit, "intake_slack_events_total", "kind", "choice")
        return "choice"

    async def _review(self, unit: Unit, act: ReviewAct) -> str:
        assert self.review is not None
        desk = self.review.desk
        reference = act.reference
        if reference is None and act.thread_ts is not None:
            reference = await desk.submission_for_thread_in(unit.session, act.thread_ts)
        if not reference:
            return "review_unknown"
        if act.decision is None:  # the listener opened the modal, or should not have
            if may_decide(act.reviewer, act.facts):
                return "review_modal"
            self._refuse(unit, act, "review_refused_not_reviewer", reference=reference)
            return "review_refused"
        result = await desk.decide_in(unit.session, reference, act.reviewer, act.decision,
                                      act.text, facts=act.facts)
        if result.applied:
            for note in act.notes:
                enqueue(unit.session, CHANNEL, act.reviewer.id, note)
            self._count(unit, "intake_slack_review_decisions_total", "decision",
                        str(act.decision))
            return "review_decision"
        self._refuse(unit, act, result.refused or "review_refused_unknown",
                     reference=reference, status=result.status, decided_by=result.decided_by)
        return "review_refused"

    def _refuse(self, unit: Unit, act: ReviewAct, name: str, **context: Any) -> None:
        """An ephemeral note (``review_refused_*``) to the person refused, alone."""
        context = {"reference": "", "status": "", "decided_by": None, **context}
        enqueue(unit.session, CHANNEL, act.reviewer.id,
                {"kind": "ephemeral", "channel": act.channel,
                 "parts": [template(name, **context)]})
        self._count(unit, "intake_slack_review_refused_total", "reason", name)
