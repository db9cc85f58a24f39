"""The outbox deliverer for channel ``slack``: stored payloads become Web API calls.

Core replies (no ``kind``) are rendered with the Slack templates and posted to the
contributor's DM with their choices as Block Kit. The adapter's own messages carry a
``kind``: ``update`` (a clicked question), ``dm``, ``thread`` (answer to a mention),
``ephemeral`` and ``home`` (the App Home tab).

Failures are sorted for the worker: a 429 -> ``RetryLater(Retry-After)``; a 5xx, a
network error or an unknown error -> raised, retried with backoff; an error retrying
cannot fix (the channel is gone, the blocks are invalid) -> ``PermanentFailure``.
"""

from __future__ import annotations

import asyncio
import random
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import answered_blocks, context_block, reply_message, sections
from bot.home import home_view
from bot.texts import Texts
from core.metrics import Metrics
from core.outbox import OutboundRecord, PermanentFailure, RetryLater
from core.render import render_reply
from core.storage.database import Database

DEFAULT_RETRY_AFTER = 30.0
METADATA_EVENT = "otdi_outbox_message"  # marks our posts with their outbox id
HISTORY_LOOKBACK = 20  # a retry looks this far back for its own earlier post
PERMANENT_ERRORS = {
    "channel_not_found", "user_not_found", "users_not_found", "is_archived", "not_in_channel",
    "cannot_dm_bot", "user_disabled", "account_inactive", "invalid_blocks",
    "invalid_blocks_format", "invalid_arguments", "msg_too_long", "no_text",
    "message_not_found", "cant_update_message", "edit_window_closed", "invalid_view",
    "not_allowed_token_type", "restricted_action",
}


def retry_after(headers: Mapping[str, Any] | None) -> float | None:
    """Seconds from a ``Retry-After`` header (any case, value or list of values)."""
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            first = value[0] if isinstance(value, list | tuple) else value
            try:
                return max(float(first), 0.0)
            except (TypeError, ValueError):
                return None
    return None


class ShortRateLimitRetry(AsyncRateLimitErrorRetryHandler):
    """Waits in place for a short ``Retry-After`` only; a long one goes back to the outbox.

    Sleeping inside the worker holds up every other message, so anything longer than
    ``max_wait`` is raised and becomes ``RetryLater`` instead.
    """

    def __init__(self, max_wait: float = 2.0, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest,
                               response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = retry_after(response.headers)
        return wait is not None and wait <= self.max_wait

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        """Wait what Slack asked, plus up to 10% so parallel senders do not return together."""
        wait = retry_after(response.headers if response is not None else None) or 1.0
        state.next_attempt_requested = True
        await asyncio.sleep(wait * (1 + random.random() / 10))
        state.increment_current_attempt()


def retry_handlers(max_wait: float = 2.0) -> list[AsyncRetryHandler]:
    return [AsyncConnectionErrorRetryHandler(), ShortRateLimitRetry(max_wait)]


def build_client(token: str, api_url: str, *, max_wait: float = 2.0,
                 timeout: int = 15) -> AsyncWebClient:
    """The Web API client for every call: the configured base URL, rate limits respected."""
    base_url = api_url if api_url.endswith("/") else api_url + "/"
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout,
                          retry_handlers=retry_handlers(max_wait))


def classify(error: SlackApiError) -> Exception:
    """What the outbox worker should do about a failed call."""
    response = error.response
    status = getattr(response, "status_code", 200)
    data = getattr(response, "data", None)
    code = data.get("error") if isinstance(data, dict) else None
    if status == 429 or code == "ratelimited":
        wait = retry_after(getattr(response, "headers", None))
        return RetryLater(DEFAULT_RETRY_AFTER if wait is None else wait,
                          f"slack rate limit ({code or status})")
    if status < 500 and code in PERMANENT_ERRORS:
        return PermanentFailure(f"slack error {code}")
    return error


def _dm_thread(payload: dict[str, Any]) -> str | None:
    """The DM thread a reply answers in (the contributor wrote there), if any."""
    thread = (payload.get("slack") or {}).get("thread_ts")
    return str(thread) if thread else None


class SlackDeliverer:
    """Registered as ``runtime.deliverers["slack"]``; called by the outbox worker."""

    def __init__(self, client: AsyncWebClient, texts: Texts, db: Database,
                 metrics: Metrics | None = None, dm_cache_size: int = 10_000) -> None:
        self.client = client
        self.texts = texts
        self.db = db
        self.metrics = metrics or Metrics()
        self._dm_channels: OrderedDict[str, str] = OrderedDict()
        self._dm_cache_size = dm_cache_size

    async def __call__(self, record: OutboundRecord) -> None:
        try:
            await self._deliver(record)
        except SlackApiError as error:
            outcome = classify(error)
            self.metrics.inc("intake_slack_deliveries_total", "result",
                             type(outcome).__name__.lower())
            raise outcome from error
        except Exception:
            self.metrics.inc("intake_slack_deliveries_total", "result", "error")
            raise
        self.metrics.inc("intake_slack_deliveries_total", "result", "ok")

    async def _deliver(self, record: OutboundRecord) -> None:
        payload = record.payload
        kind = payload.get("kind")
        if kind is None:
            await self._reply(record)
        elif kind == "dm":
            text = self._text(payload)
            await self._post(await self.dm_channel(record.recipient), text, sections(text),
                             thread_ts=_dm_thread(payload), record=record)
        elif kind == "update":
            await self._update(payload)
        elif kind == "thread":
            text = self._text(payload)
            await self._post(payload["channel"], text, sections(text),
                             thread_ts=payload["thread_ts"])
        elif kind == "ephemeral":
            text = self._text(payload)
            thread = {"thread_ts": payload["thread_ts"]} if payload.get("thread_ts") else {}
            await self.client.chat_postEphemeral(channel=payload["channel"],
                                                 user=record.recipient, text=text,
                                                 blocks=sections(text), **thread)
        elif kind == "home":
            view = await home_view(self.db, self.texts, record.recipient)
            await self.client.views_publish(user_id=record.recipient, view=view)
        else:
            raise PermanentFailure(f"unknown slack payload kind {kind!r}")

    def _text(self, payload: dict[str, Any]) -> str:
        return render_reply(self.texts.renderer, payload, "slack", numbered_choices=False)

    async def _reply(self, record: OutboundRecord) -> None:
        payload = record.payload
        message = reply_message(self._text(payload), payload.get("choices"), record.id,
                                self.texts, payload.get("reference"))
        await self._post(await self.dm_channel(record.recipient), message["text"],
                         message["blocks"], thread_ts=_dm_thread(payload), record=record)

    async def _posted_before(self, channel: str, record: OutboundRecord,
                             thread_ts: str | None = None) -> bool:
        """After a failed or cut-off attempt: did that attempt's post reach Slack anyway?

        Slack has no idempotency key, so each post carries its outbox id as message
        metadata and a retry looks for it in the channel's latest messages first. If
        the look-up fails, the message is posted (at least once beats not at all).
        """
        if record.attempts <= 1:
            return False
        try:
            if thread_ts:  # a thread's replies are not in the channel's history
                history = await self.client.conversations_replies(
                    channel=channel, ts=thread_ts, limit=HISTORY_LOOKBACK,
                    include_all_metadata=True)
            else:
                history = await self.client.conversations_history(
                    channel=channel, limit=HISTORY_LOOKBACK, include_all_metadata=True)
        except SlackApiError:
            return False
        for message in history.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and \
                    (metadata.get("event_payload") or {}).get("outbox_id") == record.id:
                return True
        return False

    async def _update(self, payload: dict[str, Any]) -> None:
        note = self.texts.render(payload["note"]["template"], **payload["note"]["context"])
        blocks = payload.get("blocks") or []
        if blocks:
            blocks = answered_blocks(blocks, payload.get("block_id", ""), note)
        else:
            blocks = [context_block(note)]
        await self.client.chat_update(channel=payload["channel"], ts=payload["ts"],
                                      text=payload.get("text") or note, blocks=blocks)

    async def _post(self, channel: str, text: str, blocks: list[dict[str, Any]],
                    thread_ts: str | None = None, record: OutboundRecord | None = None) -> None:
        arguments: dict[str, Any] = {"channel": channel, "text": text, "blocks": blocks,
                                     "unfurl_links": False, "unfurl_media": False}
        if thread_ts:
            arguments["thread_ts"] = thread_ts
        if record is not None:
            if await self._posted_before(channel, record, thread_ts):
                return  # delivered by the attempt that crashed before it was marked sent
            arguments["metadata"] = {"event_type": METADATA_EVENT,
                                     "event_payload": {"outbox_id": record.id}}
        await self.client.chat_postMessage(**arguments)

    async def dm_channel(self, user_id: str) -> str:
        """The DM channel with ``user_id`` (``conversations.open``), remembered."""
        channel = self._dm_channels.get(user_id)
        if channel is None:
            response = await self.client.conversations_open(users=user_id)
            channel = response["channel"]["id"]
            self._dm_channels[user_id] = channel
            if len(self._dm_channels) > self._dm_cache_size:
                self._dm_channels.popitem(last=False)
        return channel
