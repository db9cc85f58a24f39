"""The Bolt app: listeners that store what Slack sent, then let Bolt answer.

Bolt verifies every request's signature and timestamp, answers ``url_verification``
and drops the bot's own events. With ``process_before_response=True`` the HTTP
response waits for the listener, so each listener appends the body to the inbound
log first and Slack's 200 means "stored"; a failed append raises and Bolt answers
500, so Slack retries. The work is done by the event worker (``bot.handler``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import (
    BUTTON_ACTION,
    MULTI_ACTION,
    MULTI_DONE_ACTION,
    OPEN_FORM_ACTION,
    SELECT_ACTION,
)
from bot.handler import (
    FORM_OPENED,
    MODAL_OPENED,
    addressed_to_contributor,
    dm_change,
    is_contributor_dm,
)
from bot.intake import SlackIntake
from bot.modal import FORM_CALLBACK, thanks_view
from bot.review import REVIEW_ACTIONS, REVIEW_MODAL, ReviewThreads

log = logging.getLogger(__name__)
COMMAND = "/contribute"
SHORTCUT = "otdi_contribute"
CHOICE_ACTIONS = re.compile(
    rf"^(?:{BUTTON_ACTION}_\d+|{SELECT_ACTION}|{MULTI_DONE_ACTION})$")
Ack = Callable[..., Awaitable[None]]


class _SameToken(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment on its own and warns at every
    start that our client (built with that same token) wins: noise, dropped. Its
    "Unhandled request" warning (with a code suggestion) is dropped too: the web adapter
    answers those 200 and counts them (``intake_slack_events_total{kind="unhandled"}``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return message != warning_client_prioritized_and_token_skipped() and \
            not message.startswith("Unhandled request")


def build_bolt_app(intake: SlackIntake, client: AsyncWebClient,
                   signing_secret: str | None, review: ReviewThreads | None = None) -> AsyncApp:
    """The listeners; ``client`` carries the bot token and the configured API URL.

    ``review`` (when ``INTAKE_REVIEW_CHANNEL`` is set) adds the reviewers' buttons, the
    decision modal and the replies in the review threads.
    """
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")
    if not any(isinstance(existing, _SameToken) for existing in bolt_log.filters):
        bolt_log.addFilter(_SameToken())
    app = AsyncApp(client=client, signing_secret=signing_secret, name="otdi-intake",
                   process_before_response=True,
                   request_verification_enabled=signing_secret is not None)

    @app.event("message")
    async def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        if review is not None and review.is_thread_reply(event):
            if not addressed_to_contributor(event):
                intake.metrics.inc("intake_slack_events_total", "kind", "review_chatter")
                return  # reviewers talking among themselves
            await intake.log(body)
            return
        if review is not None and review.is_thread_edit(event):
            await intake.log(body)
            return
        if is_contributor_dm(event) or dm_change(event) is not None:
            await intake.log(body)

    @app.event("app_mention")
    async def mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        if review is not None and event.get("channel") == review.channel:
            return  # a reviewer addressing the bot in a thread is not a contributor
        channel = event.get("channel") or ""
        if event.get("user") and not event.get("bot_id") and \
                event.get("channel_type") != "im" and not channel.startswith("D"):
            await intake.log(body)

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("user"):
            await intake.log(body)

    @app.action(CHOICE_ACTIONS)
    async def choice(ack: Ack, body: dict[str, Any]) -> None:
        await intake.log(body)
        await ack()

    @app.action(MULTI_ACTION)
    async def toggled(ack: Ack) -> None:
        await ack()  # a tick in a checkbox; the Continue button sends the choice

    @app.action(OPEN_FORM_ACTION)
    async def open_from_home(ack: Ack, body: dict[str, Any]) -> None:
        opened = await intake.open_form(body["trigger_id"], body["user"]["id"])
        await intake.log(body, **{FORM_OPENED: opened})
        await ack()

    @app.command(COMMAND)
    async def command(ack: Ack, body: dict[str, Any]) -> None:
        opened = await intake.open_form(body["trigger_id"], body["user_id"],
                                        str(body.get("text") or ""))
        await intake.log(body, **{FORM_OPENED: opened})
        await ack()

    @app.shortcut(SHORTCUT)
    async def shortcut(ack: Ack, body: dict[str, Any]) -> None:
        message = body.get("message") or {}  # a message shortcut: the message it was used on
        opened = await intake.open_form(body["trigger_id"], body["user"]["id"],
                                        str(message.get("text") or ""))
        await intake.log(body, **{FORM_OPENED: opened})
        await ack()

    @app.view(FORM_CALLBACK)
    async def form(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
        errors = intake.check_form(view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await intake.log(body)
        await ack(response_action="update", view=thanks_view(intake.texts))

    if review is not None:

        @app.action(REVIEW_ACTIONS)
        async def review_click(ack: Ack, body: dict[str, Any]) -> None:
            opened = await review.open_modal(body)  # its trigger expires in seconds
            await intake.log(body, **{MODAL_OPENED: opened})
            await ack()

        @app.view(REVIEW_MODAL)
        async def review_modal(ack: Ack, body: dict[str, Any]) -> None:
            await intake.log(body)
            await ack()

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        intake.metrics.inc("intake_slack_events_total", "kind", "error")
        log.exception("slack listener failed (%s)", body.get("type"), exc_info=error)

    return app
