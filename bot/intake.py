"""Slack events, clicks and forms translated into core turns.

Every method runs after Slack got its acknowledgement. A turn is handed to
``IntakeService.handle`` with the Slack id that caused it (``event_id``, the clicked
message, the form's view id) so a retry or a double click is processed once; what
the adapter says by itself is queued with ``queries.enqueue_once`` under the same
kind of id. Nothing here posts to Slack directly except opening the form, whose
``trigger_id`` expires within seconds (an outbox retry could not help).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import queries
from bot.blocks import MULTI_ACTION, MULTI_DONE_ACTION, QuestionId, chosen_labels
from bot.files import Downloader, DownloadFailed, SlackFile, choose_card
from bot.metrics import Metrics
from bot.modal import FormAnswers, form_errors, form_view, read_form
from bot.profiles import InFlight, KeyedLocks, ProfileEmails
from bot.text import plain_text
from bot.texts import Texts
from core.conversation import CardFile, Inbound
from core.runtime import Runtime
from core.service import ConversationKey, TurnOutcome
from core.storage.database import Database

log = logging.getLogger(__name__)
FORM_EMAIL_TIMEOUT = 1.0  # the form must open within Slack's 3 s
FORM_HOLD_SECONDS = 30.0  # a form's reply waits for its last turn (or a crash) this long
CONCURRENT_TURNS = 8  # events processed at once; more wait (below the pool's 5 + 10)


def template(name: str, **context: Any) -> dict[str, Any]:
    """A part of a message the deliverer renders from ``templates/slack``."""
    return {"template": name, "context": context}


def is_contributor_dm(event: dict[str, Any]) -> bool:
    """A person's own message in a DM with the bot: not an edit, a deletion, or a bot."""
    if event.get("channel_type") != "im" or event.get("bot_id") or not event.get("user"):
        return False
    return event.get("subtype") in (None, "file_share")


@dataclass
class SlackIntake:
    """What the Bolt listeners call; holds the parts a Slack turn needs."""

    runtime: Runtime
    client: AsyncWebClient
    texts: Texts
    downloader: Downloader
    profiles: ProfileEmails
    metrics: Metrics

    def __post_init__(self) -> None:
        self.locks = KeyedLocks()
        self.inflight = InFlight(concurrency=CONCURRENT_TURNS)

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def max_card_bytes(self) -> int:
        return self.runtime.settings.max_card_bytes

    async def turn(self, user_id: str, event: Inbound, external_id: str,
                   kind: str, merge_into: int | None = None,
                   hold_seconds: float = 0.0) -> TurnOutcome:
        outcome = await self.runtime.service.handle(
            ConversationKey(queries.CHANNEL, user_id), event, source=queries.SOURCE,
            external_id=external_id, merge_into=merge_into, hold_seconds=hold_seconds)
        if outcome.duplicate:
            self.metrics.inc("intake_slack_duplicates_total")
        else:
            self.metrics.inc("intake_slack_events_total", "kind", kind)
        return outcome

    async def say_once(self, external_id: str, user_id: str, *payloads: dict[str, Any]) -> bool:
        queued = await queries.enqueue_once(self.db, external_id, user_id, list(payloads))
        if queued and self.runtime.service.on_enqueued:
            self.runtime.service.on_enqueued()
        if not queued:
            self.metrics.inc("intake_slack_duplicates_total")
        return queued

    # -- the DM ------------------------------------------------------------------------

    async def on_message(self, event: dict[str, Any], event_id: str) -> None:
        """A DM: typed text, a shared file (the card), or both."""
        if not is_contributor_dm(event):
            return
        user = event["user"]
        async with self.locks(user):
            text = plain_text(event.get("text"))
            suggested = await self.profiles.email(user)
            files = event.get("files") or []
            if not files:
                await self.turn(user, Inbound("text", text=text, suggested_email=suggested),
                                event_id, "message")
                return
            if await queries.seen(self.db, event_id):  # a retry that waited for the lock
                self.metrics.inc("intake_slack_duplicates_total")
                return
            await self._with_file(user, files, text, suggested, event_id)

    async def _with_file(self, user: str, files: list[dict[str, Any]], text: str,
                         suggested: str | None, event_id: str) -> None:
        card, others = choose_card(files)
        try:
            card = await self.downloader.complete(card)
        except SlackApiError:
            log.warning("files.info failed for %s", card.id)
        if card.too_large(self.max_card_bytes):
            note = {"kind": "dm", "parts": [template(
                "file_too_large", filename=card.name, size=card.size,
                limit=self.max_card_bytes)]}
            self.metrics.inc("intake_slack_events_total", "kind", "file_too_large")
            if not text.strip():
                await self.say_once(event_id, user, note)
                return
            if await self.say_once(f"{event_id}:file", user, note):
                await self.turn(user, Inbound("text", text=text, suggested_email=suggested),
                                event_id, "message")
            return
        try:
            data = await self.downloader.fetch(card)
        except DownloadFailed as failure:
            log.warning("could not download %s: %s", card.id, failure.code)
            if text.strip():
                await self.turn(user, Inbound("text", text=text, suggested_email=suggested),
                                f"{event_id}:text", "message")
            reason = self.texts.render("download_failed", code=failure.code)
            await self.turn(user, Inbound("card_fetch_failed", text=reason,
                                          suggested_email=suggested), event_id, "file_failed")
            return
        inbound = Inbound("text" if text.strip() else "file", text=text,
                          file=CardFile(card.name, data), suggested_email=suggested,
                          ignored_attachments=tuple(others))
        await self.turn(user, inbound, event_id, "file")

    # -- buttons, menus, checkboxes ------------------------------------------------------

    async def on_choice(self, body: dict[str, Any]) -> None:
        """A click on a question: handed to the core once, then the question is closed."""
        action = (body.get("actions") or [{}])[0]
        question = QuestionId.parse(action.get("block_id"))
        user = (body.get("user") or {}).get("id")
        container = body.get("container") or {}
        channel, ts = container.get("channel_id"), container.get("message_ts")
        if question is None or not user or not channel or not ts:
            return
        selected: list[dict[str, Any]] = []
        if action.get("action_id") == MULTI_DONE_ACTION:
            state = ((body.get("state") or {}).get("values") or {}).get(question.block_id) or {}
            selected = (state.get(MULTI_ACTION) or {}).get("selected_options") or []
            values = [o["value"] for o in selected]
        elif action.get("selected_option"):
            values = [action["selected_option"]["value"]]
        else:
            values = [action.get("value", "")]
        click = f"click:{channel}:{ts}"
        message = body.get("message") or {}
        update = {"kind": "update", "channel": channel, "ts": ts,
                  "block_id": question.block_id, "blocks": message.get("blocks") or [],
                  "text": message.get("text") or ""}
        async with self.locks(user):
            if await queries.newer_reply_exists(self.db, user, question.outbox_id):
                await self.say_once(click, user, {**update, "note": template("choice_stale")})
                return
            suggested = await self.profiles.email(user)
            outcome = await self.turn(user, Inbound("choice", field=question.field,
                                                    values=tuple(values),
                                                    suggested_email=suggested), click, "choice")
            if not outcome.duplicate and any(values):
                labels = chosen_labels(action, selected)
                await self.say_once(f"{click}:closed", user,
                                    {**update, "note": template("choice_made", labels=labels)})

    # -- mentions and the App Home -------------------------------------------------------

    async def on_mention(self, event: dict[str, Any], event_id: str) -> None:
        """A mention in a channel: the conversation moves to the DM; the thread says so."""
        user, channel = event.get("user"), event.get("channel", "")
        if not user or event.get("bot_id") or event.get("channel_type") == "im" \
                or channel.startswith("D"):
            return
        async with self.locks(user):
            suggested = await self.profiles.email(user)
            outcome = await self.turn(user, Inbound("resume", suggested_email=suggested),
                                      event_id, "mention")
            if not outcome.duplicate:
                thread = {"kind": "thread", "channel": channel,
                          "thread_ts": event.get("thread_ts") or event.get("ts"),
                          "parts": [template("mention_moved", user_id=user)]}
                await self.say_once(f"{event_id}:thread", user, thread)

    async def on_home_opened(self, event: dict[str, Any], event_id: str) -> None:
        """The Home tab shows the submissions; the first opening of the DM is greeted."""
        user = event.get("user")
        if not user:
            return
        if event.get("tab") == "home":
            await self.say_once(event_id, user, {"kind": "home"})
            self.metrics.inc("intake_slack_events_total", "kind", "home")
            return
        key = ConversationKey(queries.CHANNEL, user)
        if await queries.conversation_state(self.db, key) is None:
            async with self.locks(user):
                suggested = await self.profiles.email(user)
                await self.turn(user, Inbound("resume", suggested_email=suggested), event_id,
                                "greeting")

    # -- the form ------------------------------------------------------------------------

    async def open_form(self, trigger_id: str, user: str) -> None:
        """``views.open`` right away (the trigger expires in ~3 s), pre-filled from the draft."""
        key = ConversationKey(queries.CHANNEL, user)
        state = await queries.conversation_state(self.db, key)
        email = await self.profiles.email(user, timeout=FORM_EMAIL_TIMEOUT)
        view = form_view(self.texts, state=state, suggested_email=email)
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))
            await self.say_once(f"form-open:{trigger_id}", user,
                                {"kind": "dm", "parts": [template("form_open_failed")]})
            return
        self.metrics.inc("intake_slack_events_total", "kind", "form_opened")

    def check_form(self, view: dict[str, Any]) -> tuple[FormAnswers, dict[str, str]]:
        """The answers and the inline errors, without I/O: Slack waits for the verdict."""
        answers = read_form(view)
        return answers, form_errors(answers, self.texts, self.max_card_bytes)

    async def on_form(self, answers: FormAnswers, view_id: str, user: str) -> None:
        """A valid form: the card fetched, then the same conversation turns as typing."""
        base = f"form:{view_id}"
        if await queries.seen(self.db, base):
            self.metrics.inc("intake_slack_duplicates_total")
            return
        async with self.locks(user):
            suggested = await self.profiles.email(user)
            card, failure = await self._form_card(answers)
            key = ConversationKey(queries.CHANNEL, user)
            state = await queries.conversation_state(self.db, key)
            replies: list[int] = []

            async def turn(event: Inbound, suffix: str) -> TurnOutcome:
                # Every turn of the form adds to one DM, sent when the form is done.
                outcome = await self.turn(user, event, f"{base}{suffix}", "form",
                                          merge_into=replies[-1] if replies else None,
                                          hold_seconds=FORM_HOLD_SECONDS)
                replies.extend(outcome.outbox_ids)
                return outcome

            if state is not None and state.phase == "submitted":
                await turn(Inbound("text", text="new", suggested_email=suggested), ":new")
            text, alone = answers.split()
            for field, value in alone:
                await turn(Inbound("choice", field=field, values=(value,),
                                   suggested_email=suggested), f":{field}")
            outcome = await turn(Inbound("text", text=text, file=card,
                                         suggested_email=suggested), "")
            if not outcome.duplicate and outcome.state is not None:
                if failure is not None:
                    outcome = await turn(Inbound("card_fetch_failed", text=failure), ":card")
                asking = outcome.state.asking if outcome.state else None
                if asking == "domain_suggestion" and answers.own_domain:
                    outcome = await turn(Inbound("choice", field="domain_suggestion",
                                                 values=("yes",)), ":suggestion")
                if outcome.state is not None and outcome.state.asking == "confirm" \
                        and not outcome.state.card_errors_acknowledged:
                    await turn(Inbound("choice", field="confirm", values=("yes",)), ":confirm")
        await self.runtime.service.release(replies)

    async def _form_card(self, answers: FormAnswers) -> tuple[CardFile | None, str | None]:
        if answers.card is None:
            return None, None
        file = SlackFile.from_slack(answers.card)
        try:
            file = await self.downloader.complete(file)
            data = await self.downloader.fetch(file)
        except DownloadFailed as failure:
            return None, self.texts.render("download_failed", code=failure.code)
        except SlackApiError:
            return None, self.texts.render("download_failed", code="missing_url")
        return CardFile(file.name, data), None

