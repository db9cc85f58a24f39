"""The Bolt app: listeners that acknowledge at once and hand the work to ``SlackIntake``.

Bolt verifies every request's signature and timestamp, answers ``url_verification``
and drops the bot's own events. With ``process_before_response=False`` the
acknowledgement goes out as soon as ``ack()`` runs (Events API: before the listener
starts) and the listener carries on afterwards.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot import queries
from bot.blocks import (
    BUTTON_ACTION,
    MULTI_ACTION,
    MULTI_DONE_ACTION,
    OPEN_FORM_ACTION,
    SELECT_ACTION,
)
from bot.intake import SlackIntake
from bot.modal import FORM_CALLBACK, thanks_view
from bot.review import REVIEW_ACTIONS, REVIEW_MODAL, ReviewThreads

log = logging.getLogger(__name__)
COMMAND = "/contribute"
SHORTCUT = "otdi_contribute"
CHOICE_ACTIONS = re.compile(
    rf"^(?:{BUTTON_ACTION}_\d+|{SELECT_ACTION}|{MULTI_DONE_ACTION})$")


def skip_seen_retries(intake: SlackIntake) -> Callable[..., Awaitable[BoltResponse | None]]:
    """A Slack retry (``X-Slack-Retry-Num``) of an event already processed: 200, nothing else.

    Only retries pay for the database look-up; first deliveries go straight on. The
    unique ``(source, external_id)`` row is what makes processing exactly-once; this
    only saves the work (a download, a profile look-up) before reaching it.
    """

    async def middleware(req: AsyncBoltRequest, resp: BoltResponse,
                         next_: Callable[[], Awaitable[BoltResponse]]) -> BoltResponse | None:
        retry = req.headers.get("x-slack-retry-num")
        body = req.body if isinstance(req.body, dict) else {}
        event_id = body.get("event_id")
        if retry and event_id and await queries.seen(intake.db, event_id):
            intake.metrics.inc("intake_slack_duplicates_total")
            return BoltResponse(status=200, body="")
        return await next_()

    return middleware


def build_bolt_app(intake: SlackIntake, client: AsyncWebClient,
                   signing_secret: str | None, review: ReviewThreads | None = None) -> AsyncApp:
    """The listeners; ``client`` carries the bot token and the configured API URL.

    ``review`` (when ``INTAKE_REVIEW_CHANNEL`` is set) adds the reviewers' buttons, the
    decision modal and the replies in the review threads.
    """
    app = AsyncApp(client=client, signing_secret=signing_secret, name="otdi-intake",
                   process_before_response=False,
                   request_verification_enabled=signing_secret is not None)
    app.middleware(skip_seen_retries(intake))

    @app.event("message")
    async def message(event: dict[str, Any], body: dict[str, Any]) -> None:
        event_id = body.get("event_id") or _fallback_id(event)
        async with intake.inflight():
            if review is not None and review.is_thread_reply(event):
                await review.on_thread_reply(event, event_id)
                return
            await intake.on_message(event, event_id)

    @app.event("app_mention")
    async def mention(event: dict[str, Any], body: dict[str, Any]) -> None:
        if review is not None and event.get("channel") == review.channel:
            return  # a reviewer addressing the bot in a thread is not a contributor
        async with intake.inflight():
            await intake.on_mention(event, body.get("event_id") or _fallback_id(event))

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], body: dict[str, Any]) -> None:
        async with intake.inflight():
            await intake.on_home_opened(event, body.get("event_id") or _fallback_id(event))

    @app.action(CHOICE_ACTIONS)
    async def choice(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        async with intake.inflight():
            await intake.on_choice(body)

    @app.action(MULTI_ACTION)
    async def toggled(ack: Callable[..., Awaitable[None]]) -> None:
        await ack()  # a tick in a checkbox; the Continue button sends the choice

    @app.action(OPEN_FORM_ACTION)
    async def open_from_home(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        await intake.open_form(body["trigger_id"], body["user"]["id"])

    @app.command(COMMAND)
    async def command(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        await intake.open_form(body["trigger_id"], body["user_id"])

    @app.shortcut(SHORTCUT)
    async def shortcut(ack: Callable[..., Awaitable[None]], body: dict[str, Any]) -> None:
        await ack()
        await intake.open_form(body["trigger_id"], body["user"]["id"])

    @app.view(FORM_CALLBACK)
    async def form(ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                   view: dict[str, Any]) -> None:
        answers, errors = intake.check_form(view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack(response_action="update", view=thanks_view(intake.texts))
        async with intake.inflight():
            await intake.on_form(answers, view.get("id", ""), body["user"]["id"])

    if review is not None:

        @app.action(REVIEW_ACTIONS)
        async def review_click(ack: Callable[..., Awaitable[None]],
                               body: dict[str, Any]) -> None:
            await ack()
            async with intake.inflight():
                await review.on_action(body)

        @app.view(REVIEW_MODAL)
        async def review_modal(ack: Callable[..., Awaitable[None]], body: dict[str, Any],
                               view: dict[str, Any]) -> None:
            await ack()
            async with intake.inflight():
                await review.on_view(body, view)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        intake.metrics.inc("intake_slack_events_total", "kind", "error")
        log.exception("slack listener failed (%s)", body.get("type"), exc_info=error)

    return app


def _fallback_id(event: dict[str, Any]) -> str:
    """Events without an envelope id (Socket Mode tests): channel and timestamp name them."""
    return f"{event.get('channel', '')}:{event.get('event_ts') or event.get('ts', '')}"
