"""Both halves of a contributor's conversation, as the desk shows it.

What the intake said is in the outbox (rendered by the core's templates); what the
contributor sent is in the inbound log exactly as it arrived. Reading it back is each
channel's business: an e-mail is parsed with the mail adapter's own reader (new lines
only, quotes dropped), a Slack body gives its text or names the click or form, a chat line
is its text. Nothing here changes anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.repository import DeskInbound
from mail.parsing import parse_message
from mail.review import reviewer_text

MAX_PARSED_BYTES = 5_000_000  # a larger e-mail is named, not parsed for the page


@dataclass(frozen=True)
class Line:
    """One message of the conversation: from the contributor or to them."""

    at: datetime
    inbound: bool
    text: str
    status: str
    outbox_id: int | None = None


def inbound_text(channel: str, event: DeskInbound, own_address: str = "") -> str:
    """What the contributor wrote, as plain text (best effort, never an error);
    ``own_address``: the submission address, so our own e-mail quoted back is left out."""
    try:
        if channel == "mail":
            return _mail_text(event, own_address)
        if channel == "slack":
            return _slack_text(event.payload)
        return str(event.payload.get("text") or event.payload.get("kind") or "")
    except Exception:  # noqa: BLE001 - an unreadable message is shown as such
        return "(this message cannot be shown)"


def _mail_text(event: DeskInbound, own_address: str) -> str:
    raw = event.raw or b""
    if len(raw) > MAX_PARSED_BYTES:
        return f"(an e-mail of {len(raw)} bytes)"
    parsed = parse_message(raw, envelope_from=str(event.payload.get("mail_from") or ""),
                           own_address=own_address)
    lines = [f"Subject: {parsed.subject}", "", reviewer_text(parsed, own_address).strip()]
    if parsed.card is not None:
        lines += ["", f"[attached: {parsed.card.filename}]"]
    return "\n".join(lines).strip()


def _slack_text(body: dict[str, Any]) -> str:
    event = body.get("event") or {}
    if event.get("text") or event.get("files"):
        files = ", ".join(str(f.get("name")) for f in event.get("files") or [])
        return "\n".join(part for part in (str(event.get("text") or ""),
                                           f"[file: {files}]" if files else "") if part)
    actions = body.get("actions") or []
    if actions:
        action = actions[0]
        chosen = (action.get("selected_option") or {}).get("value") or action.get("value")
        return f"[clicked {action.get('action_id')}{f': {chosen}' if chosen else ''}]"
    if body.get("view"):
        return "[sent the form]"
    return f"[{body.get('type') or body.get('command') or 'event'}]"
