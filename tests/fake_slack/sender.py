"""Requests to the app as Slack sends them: signed, with Slack's payload shapes.

Events go as JSON envelopes; interactivity (block actions, shortcuts, view
submissions) as a form with one ``payload`` field; slash commands as a form.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.fake_slack.server import Posted

_counter = itertools.count(1)


def action_ts() -> str:
    """A click's own timestamp, distinct for every click as Slack's is."""
    return f"{int(time.time())}.{next(_counter):06d}"


@dataclass
class Answer:
    status: int
    text: str
    elapsed: float

    def json(self) -> Any:
        return json.loads(self.text) if self.text else None


class SlackSender:
    """Signs and posts requests to ``url`` (the app's ``/slack/events``)."""

    def __init__(self, url: str, signing_secret: str, session: aiohttp.ClientSession,
                 team_id: str = "T1", api_app_id: str = "A1") -> None:
        self.url = url
        self.secret = signing_secret
        self.session = session
        self.team_id = team_id
        self.api_app_id = api_app_id

    def headers(self, body: str, *, timestamp: int | None = None,
                secret: str | None = None) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret or self.secret).generate_signature(
            timestamp=ts, body=body)
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature or ""}

    async def post(self, body: str, content_type: str, *, timestamp: int | None = None,
                   secret: str | None = None, extra: dict[str, str] | None = None) -> Answer:
        headers = {"Content-Type": content_type,
                   **self.headers(body, timestamp=timestamp, secret=secret), **(extra or {})}
        started = time.perf_counter()
        async with self.session.post(self.url, data=body.encode(), headers=headers) as response:
            text = await response.text()
        return Answer(response.status, text, time.perf_counter() - started)

    # -- Events API --------------------------------------------------------------------------

    def envelope(self, event: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
        return {"token": "unused", "team_id": self.team_id, "api_app_id": self.api_app_id,
                "event": event, "type": "event_callback",
                "event_id": event_id or f"Ev{next(_counter):08d}",
                "event_time": int(time.time()), "authorizations": [
                    {"team_id": self.team_id, "user_id": "UBOT", "is_bot": True}]}

    async def event(self, event: dict[str, Any], *, event_id: str | None = None,
                    retry_num: int | None = None, **options: Any) -> Answer:
        envelope = self.envelope(event, event_id)
        extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} \
            if retry_num else None
        return await self.post(json.dumps(envelope), "application/json", extra=extra, **options)

    @staticmethod
    def dm(user: str, text: str = "", files: list[dict[str, Any]] | None = None,
           **fields: Any) -> dict[str, Any]:
        """A ``message.im`` event (``file_share`` when files are given)."""
        ts = f"{time.time():.6f}"
        event: dict[str, Any] = {"type": "message", "channel": f"D{user}", "user": user,
                                 "text": text, "ts": ts, "event_ts": ts, "channel_type": "im"}
        if files:
            event.update(subtype="file_share", files=files, upload=False)
        event.update(fields)
        return event

    # -- interactivity -----------------------------------------------------------------------

    async def interactive(self, payload: dict[str, Any], **options: Any) -> Answer:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded", **options)

    async def command(self, command: str, user: str, *, text: str = "",
                      trigger_id: str | None = None, channel: str | None = None) -> Answer:
        body = urlencode({"token": "unused", "team_id": self.team_id, "command": command,
                          "text": text, "user_id": user, "channel_id": channel or f"D{user}",
                          "api_app_id": self.api_app_id, "response_url": "https://unused/",
                          "trigger_id": trigger_id or f"trigger-{next(_counter)}"})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def shortcut(self, callback_id: str, user: str,
                       trigger_id: str | None = None) -> Answer:
        return await self.interactive({
            "type": "shortcut", "callback_id": callback_id, "user": {"id": user},
            "team": {"id": self.team_id}, "api_app_id": self.api_app_id,
            "trigger_id": trigger_id or f"trigger-{next(_counter)}", "action_ts": action_ts()})

    def block_actions(self, message: Posted, user: str, *, value: str | None = None,
                      option: str | None = None, checked: list[str] | None = None,
                      action_id: str | None = None) -> dict[str, Any]:
        """The payload of a click on ``message``: a button (by value or action id), a menu
        option, or ticks."""
        block = next(b for b in message.blocks if b.get("type") == "actions")
        elements = block["elements"]
        state: dict[str, Any] = {}
        if checked is not None:
            boxes = next(e for e in elements if e["type"] in ("checkboxes",
                                                              "multi_static_select"))
            chosen = [o for o in boxes["options"] if o["value"] in checked]
            state = {block["block_id"]: {boxes["action_id"]: {
                "type": boxes["type"], "selected_options": chosen}}}
            element = next(e for e in elements if e["type"] == "button")
            action = {"type": "button", "action_id": element["action_id"],
                      "block_id": block["block_id"], "text": element["text"],
                      "value": element.get("value", ""), "action_ts": action_ts()}
        elif option is not None:
            element = next(e for e in elements if e["type"] == "static_select")
            chosen_option = next(o for o in element["options"] if o["value"] == option)
            action = {"type": "static_select", "action_id": element["action_id"],
                      "block_id": block["block_id"], "selected_option": chosen_option,
                      "action_ts": action_ts()}
        else:
            element = next(e for e in elements
                           if (value is None or e.get("value") == value)
                           and (action_id is None or e.get("action_id") == action_id))
            action = {"type": "button", "action_id": element["action_id"],
                      "block_id": block["block_id"], "text": element["text"],
                      "value": element["value"], "action_ts": action_ts()}
        thread = {"thread_ts": message.thread_ts} if message.thread_ts else {}
        return {"type": "block_actions",
                "user": {"id": user, "team_id": self.team_id, "username": user.lower(),
                         "name": user.lower()},
                "api_app_id": self.api_app_id, "team": {"id": self.team_id},
                "trigger_id": f"trigger-{next(_counter)}",
                "container": {"type": "message", "message_ts": message.ts,
                              "channel_id": message.channel, "is_ephemeral": False,
                              **thread},  # Slack names the thread of a message in one
                "channel": {"id": message.channel},
                "message": {"type": "message", "ts": message.ts, "text": message.text,
                            "blocks": message.blocks, "user": "UBOT", "bot_id": "BBOT",
                            **thread},
                "state": {"values": state}, "actions": [action],
                "response_url": "https://unused/"}

    async def click(self, message: Posted, user: str, **choice: Any) -> Answer:
        return await self.interactive(self.block_actions(message, user, **choice))

    @staticmethod
    def form_state(view: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
        """``view.state.values`` for a modal filled in with ``answers`` (by block id)."""
        values: dict[str, Any] = {}
        for block in view.get("blocks", []):
            if block.get("type") != "input" or block["block_id"] not in answers:
                continue
            element, answer = block["element"], answers[block["block_id"]]
            kind = element["type"]
            if kind in ("plain_text_input", "url_text_input", "email_text_input"):
                state: dict[str, Any] = {"value": answer}
            elif kind in ("radio_buttons", "static_select"):
                picked = next(o for o in element["options"] if o["value"] == answer)
                state = {"selected_option": picked}
            elif kind == "checkboxes":
                state = {"selected_options": [o for o in element["options"]
                                              if o["value"] in answer]}
            elif kind == "file_input":
                state = {"files": answer}
            else:
                raise ValueError(kind)
            values[block["block_id"]] = {element["action_id"]: {"type": kind, **state}}
        return values

    async def submit_view(self, view: dict[str, Any], user: str,
                          answers: dict[str, Any]) -> Answer:
        submitted = {**view, "state": {"values": self.form_state(view, answers)}}
        return await self.interactive({
            "type": "view_submission", "team": {"id": self.team_id},
            "user": {"id": user, "team_id": self.team_id}, "api_app_id": self.api_app_id,
            "trigger_id": f"trigger-{next(_counter)}", "view": submitted,
            "response_urls": []})
