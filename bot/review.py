"""Reviewer threads in Slack: one thread per submission in ``INTAKE_REVIEW_CHANNEL``.

The outbox channel ``review`` is delivered here: ``review.open`` posts the parent
message (summary and decision buttons) and, in its thread, the card as a file and its
check; ``review.relay`` brings the contributor's words and new cards to the thread;
``review.status`` updates the parent and notes the decision in the thread. Decisions
(buttons, the decision modal, ``to contributor:`` thread replies) are logged and read
by ``bot.handler``, which hands the desk the facts (who, listed or in the channel);
the core decides who may decide and guarantees one decision.

Slack has no idempotency key for ``chat.postMessage``, so a delivery that is retried
after a partial success must know what it already did: every step's completion is
saved in the thread record (``ReviewDesk.thread_opened``) right after Slack confirms
it, and a retry skips the steps done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import TEXT_LIMIT, plain, sections
from bot.delivery import classify
from bot.handler import addressed_to_contributor, changed_message
from bot.texts import Texts
from core import repository
from core.metrics import Metrics
from core.outbox import OutboundRecord, PermanentFailure, RetryLater
from core.review import FINAL, Decision, Reviewer, ReviewerFacts, may_decide
from core.runtime import Runtime

log = logging.getLogger(__name__)
REVIEW_BLOCK = "otdi_review"
ACTION_PREFIX = "otdi_review_"
ACTIONS = {f"{ACTION_PREFIX}{d}": d for d in (Decision.APPROVE, Decision.CHANGES,
                                               Decision.REJECT, Decision.ASK)}
REVIEW_ACTIONS = re.compile(rf"^{ACTION_PREFIX}(?:approve|changes|reject|ask)$")
REVIEW_MODAL = "otdi_review_decision"
TEXT_BLOCK = "text"
TEXT_ACTION = "value"
THREAD_NOT_OPEN_RETRY = 10.0  # seconds: a relay or status waits for its thread
MEMBERS_TTL = 60.0
MEMBERS_TIMEOUT = 2.0  # a click's modal must open within Slack's 3 s
SLACK_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
FINAL_STATUSES = {str(status) for status in FINAL}
THREAD_REPLY_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})


def _is_final(status: str) -> bool:
    return status in FINAL_STATUSES


class ReviewThreads:
    """The ``review`` outbox deliverer; the facts and the modal for reviewers' clicks."""

    def __init__(self, runtime: Runtime, client: AsyncWebClient, texts: Texts,
                 metrics: Metrics, channel: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runtime = runtime
        self.client = client
        self.texts = texts
        self.metrics = metrics
        self.channel = channel
        self.reviewers = set(runtime.settings.reviewers)
        self.desk = runtime.desk
        self.modal_callback = REVIEW_MODAL
        self.clock = clock
        self._members: tuple[float, frozenset[str]] | None = None

    def label(self, key: str) -> str:
        return self.render("review_label", {"key": key})

    def render(self, template: str, context: dict[str, Any]) -> str:
        """A Slack template; the context is a dict (a submission's ``name`` is a key)."""
        return self.texts.renderer.render(template, context, "slack")

    # -- the outbox deliverer ---------------------------------------------------------------

    async def __call__(self, record: OutboundRecord) -> None:
        """Registered as ``runtime.deliverers["review"]``; failures sorted like Slack's."""
        kind = record.payload.get("kind")
        try:
            if kind == "review.open":
                await self.open_thread(record.payload["reference"])
            elif kind == "review.relay":
                await self.relay(record.id, record.payload)
            elif kind == "review.status":
                await self.status(record.id, record.payload)
            else:
                raise PermanentFailure(f"unknown review payload kind {kind!r}")
        except SlackApiError as error:
            outcome = classify(error)
            self.metrics.inc("intake_slack_review_deliveries_total", "result",
                             type(outcome).__name__.lower())
            raise outcome from error
        self.metrics.inc("intake_slack_review_deliveries_total", "result", "ok")

    async def _context(self, reference: str) -> dict[str, Any]:
        context = await self.desk.context(reference)
        if context is None:
            raise PermanentFailure(f"no submission {reference}")
        return context

    async def _thread(self, reference: str) -> dict[str, Any]:
        thread = await self.desk.thread_of(reference)
        if not thread or not thread.get("ts"):
            # review.open failed for now (Slack down): wait for it rather than lose this.
            raise RetryLater(THREAD_NOT_OPEN_RETRY, f"review thread of {reference} not open yet")
        return dict(thread)

    async def _once(self, reference: str, thread: dict[str, Any], step: str,
                    action: Callable[[], Awaitable[object]]) -> None:
        """Run ``action`` unless a previous attempt did; remember it as done at once."""
        done = list(thread.get("done") or [])
        if step in done:
            return
        await action()
        thread["done"] = [*done, step]
        await self.desk.thread_step(reference, step)

    def parent(self, context: dict[str, Any]) -> dict[str, Any]:
        """The parent message: the summary, how to talk to the contributor, the buttons."""
        text = self.render("review_open", context)
        blocks = sections(text)
        if not _is_final(context["status"]):
            buttons = []
            for action_id, decision in ACTIONS.items():
                button: dict[str, Any] = {"type": "button", "action_id": action_id,
                                          "text": plain(self.label(decision)),
                                          "value": context["reference"]}
                if decision == Decision.APPROVE:
                    button["style"] = "primary"
                elif decision == Decision.REJECT:
                    button["style"] = "danger"
                buttons.append(button)
            blocks.append({"type": "actions", "block_id": f"{REVIEW_BLOCK}:{context['reference']}",
                           "elements": buttons})
        return {"text": text[:TEXT_LIMIT], "blocks": blocks[:50]}

    async def open_thread(self, reference: str) -> None:
        """The parent, then the card and its check in the thread; each step exactly once."""
        context = await self._context(reference)
        thread = dict(await self.desk.thread_of(reference) or {})
        if not thread.get("ts"):
            response = await self.client.chat_postMessage(
                channel=self.channel, unfurl_links=False, unfurl_media=False,
                **self.parent(context))
            thread = {"channel": response["channel"], "ts": response["ts"], "done": []}
            await self.desk.thread_opened(reference, thread)  # saved before anything else
            context = await self._context(reference)  # now in review
        card = context.get("card")
        if card is not None:
            await self._once(reference, thread, "open.card", lambda: self._upload(
                thread, card["filename"], card["content"]))
        report = self.render("review_card", context)
        await self._once(reference, thread, "open.report", lambda: self._post(thread, report))

    async def relay(self, outbox_id: int, payload: dict[str, Any]) -> None:
        """What the contributor wrote, and a new card as a file with its check."""
        reference = payload["reference"]
        thread = await self._thread(reference)
        context = await self._context(reference)
        text = self.render("review_relay", {
            **context, "text": payload.get("text") or "", "filename": payload.get("filename"),
            "report": payload.get("report"), "sender": payload.get("from") or "",
            "from_channel": payload.get("from_channel") or ""})
        await self._once(reference, thread, f"{outbox_id}.text", lambda: self._post(thread, text))
        async with self.runtime.db.transaction() as session:
            card = await repository.slack_card_version(session, payload.get("card_version_id"))
        if card is not None:
            filename, content = card
            await self._once(reference, thread, f"{outbox_id}.card", lambda: self._upload(
                thread, filename, content))

    async def status(self, outbox_id: int, payload: dict[str, Any]) -> None:
        """The parent shows the status now (no buttons once final); a note in the thread."""
        reference = payload["reference"]
        thread = await self._thread(reference)
        context = await self._context(reference)
        await self.client.chat_update(channel=thread["channel"], ts=thread["ts"],
                                      **self.parent(context))  # idempotent: no step flag
        by_id = str(payload.get("by_id") or "")
        note = self.render("review_status", {
            **context, "status": payload.get("status") or context["status"],
            "decision": payload.get("decision") or "", "by": payload.get("by") or "",
            "by_id": by_id if SLACK_USER_ID.match(by_id) else "",
            "text": payload.get("text") or ""})
        await self._once(reference, thread, f"{outbox_id}.note", lambda: self._post(thread, note))

    async def _post(self, thread: dict[str, Any], text: str) -> None:
        await self.client.chat_postMessage(channel=thread["channel"], thread_ts=thread["ts"],
                                           text=text[:TEXT_LIMIT], blocks=sections(text)[:50],
                                           unfurl_links=False, unfurl_media=False)

    async def _upload(self, thread: dict[str, Any], filename: str, content: bytes) -> None:
        """files upload v2: getUploadURLExternal, the bytes, completeUploadExternal."""
        await self.client.files_upload_v2(channel=thread["channel"], thread_ts=thread["ts"],
                                          content=bytes(content), filename=filename,
                                          title=filename)

    # -- who may decide: the facts; the core judges ----------------------------------------

    async def facts(self, user: str) -> ReviewerFacts:
        """``INTAKE_REVIEWERS``, and (when no list is set) membership of the review channel
        (cached a minute; a failed look-up is reported as unknown, not cached)."""
        if self.reviewers:
            return ReviewerFacts(listed=frozenset(self.reviewers))
        now = self.clock()
        if self._members is None or self._members[0] <= now:
            try:
                members = await asyncio.wait_for(self._channel_members(), MEMBERS_TIMEOUT)
            except (SlackApiError, TimeoutError) as error:
                log.warning("conversations.members failed: %r", error)
                return ReviewerFacts(in_review_channel=None)
            self._members = (now + MEMBERS_TTL, members)
        return ReviewerFacts(in_review_channel=user in self._members[1])

    async def _channel_members(self) -> frozenset[str]:
        members: set[str] = set()
        cursor = ""
        while True:
            response = await self.client.conversations_members(channel=self.channel,
                                                               cursor=cursor or None, limit=200)
            members.update(response.get("members") or [])
            cursor = ((response.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                return frozenset(members)

    @staticmethod
    def decision_of(action_id: str) -> Decision | None:
        return ACTIONS.get(action_id)

    # -- the modal: opened by the listener (the trigger expires in ~3 s) -------------------

    async def open_modal(self, body: dict[str, Any]) -> bool:
        """For a decision that needs a text, the modal, if the core says they may decide."""
        action = (body.get("actions") or [{}])[0]
        decision = ACTIONS.get(action.get("action_id", ""))
        user = (body.get("user") or {}).get("id")
        reference = action.get("value") or ""
        if decision is None or decision == Decision.APPROVE or not user or not reference:
            return False
        if not may_decide(Reviewer(user, "slack"), await self.facts(user)):
            return False
        channel = (body.get("channel") or {}).get("id") or self.channel
        try:
            await self.client.views_open(trigger_id=body["trigger_id"],
                                         view=self.modal(reference, decision, channel))
        except SlackApiError as error:
            log.warning("views.open for a review failed: %s", error.response.get("error"))
            return False
        return True

    def modal(self, reference: str, decision: Decision, channel: str) -> dict[str, Any]:
        """The decision modal: one text, sent to the contributor."""
        metadata = json.dumps({"reference": reference, "decision": str(decision),
                               "channel": channel})
        return {"type": "modal", "callback_id": REVIEW_MODAL, "private_metadata": metadata,
                "title": plain(self.label(decision), 24),
                "submit": plain(self.label("modal_submit"), 24),
                "close": plain(self.label("modal_close"), 24),
                "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": reference}},
                           {"type": "input", "block_id": TEXT_BLOCK,
                            "label": plain(self.label(f"text_{decision}"), 2000),
                            "hint": plain(self.label(f"hint_{decision}"), 2000),
                            "element": {"type": "plain_text_input", "action_id": TEXT_ACTION,
                                        "multiline": True, "max_length": 3000}}]}

    @staticmethod
    def modal_text(view: dict[str, Any]) -> str:
        values = (view.get("state") or {}).get("values") or {}
        return str(((values.get(TEXT_BLOCK) or {}).get(TEXT_ACTION) or {}).get("value") or "")

    def is_thread_reply(self, event: dict[str, Any]) -> bool:
        """A person's reply in a thread of the review channel (not the bot, not an edit;
        with files, or also sent to the channel, it is still their reply)."""
        thread_ts = event.get("thread_ts")
        return (event.get("channel") == self.channel and bool(thread_ts)
                and thread_ts != event.get("ts") and bool(event.get("user"))
                and not event.get("bot_id") and event.get("subtype") in THREAD_REPLY_SUBTYPES)

    def is_thread_edit(self, event: dict[str, Any]) -> bool:
        """A reviewer's thread reply edited or deleted, that was or now is addressed to the
        contributor (their chatter's edits are nobody's business)."""
        if event.get("channel") != self.channel:
            return False
        changed = changed_message(event)
        if changed is None:
            return False
        before, after = changed
        thread_ts = before.get("thread_ts") or after.get("thread_ts")
        ts = before.get("ts") or after.get("ts")
        return bool(thread_ts) and thread_ts != ts and any(
            message and addressed_to_contributor(message) for message in (before, after))
