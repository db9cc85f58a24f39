"""An outbox payload as an e-mail: subject, body and the headers that thread and calm robots.

The words come from ``templates/mail/`` (falling back to ``templates/text/``); here only
the envelope is assembled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from core.conversation import ConversationState
from core.render import Renderer, render_reply

_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|rif)\s*(?:\[\d+\])?\s*:|\[otdi[^\]]*\])\s*",
                     re.IGNORECASE)
FILL_IN_LEAVES_OUT = ("consent", "email")  # consent needs the terms shown; e-mail we know


def original_subject(subject: str) -> str:
    """The subject without ``Re:``/``Fwd:``/``[OTDI-0042]`` prefixes, on one line."""
    subject = " ".join(subject.split())[:300]
    previous = None
    while previous != subject:
        previous = subject
        subject = _PREFIX.sub("", subject)
    return subject[:150]


def missing_fields(state: dict[str, Any]) -> list[str]:
    """Fields a stored conversation state still needs, in the form's order (read as the
    conversation reads it, so states saved in an older shape count the same)."""
    return ConversationState.model_validate(state).missing()


@dataclass
class Letter:
    """Everything about one reply that is not its transport."""

    recipient: str
    subject: str
    body: str
    reply_to: str
    message_id: str
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    # (filename, content, "type/subtype"): the dataset card, in a reviewers' e-mail
    attachments: list[tuple[str, bytes, str]] = field(default_factory=list)
    # RFC 3834: "auto-replied" answers a message, "auto-generated" is a notification
    auto_submitted: str = "auto-replied"


def render_letter(renderer: Renderer, payload: dict[str, Any], *, phase: str | None,
                  missing: list[str], subject: str, reply_to: str,
                  submit_address: str) -> tuple[str, str]:
    """(subject, body) of a reply: the conversation's parts, then how to answer by e-mail."""
    reference = payload.get("reference")
    text = render_reply(renderer, payload, "mail")
    fill_in = [f for f in missing if f not in FILL_IN_LEAVES_OUT]
    context = {"text": text, "reference": reference, "phase": phase, "missing": missing,
               "fill_in": fill_in if phase == "collecting" and len(fill_in) > 1 else [],
               "reply_to": reply_to, "submit_address": submit_address,
               "notice": (payload.get("mail") or {}).get("kind") == "notice"}
    title = renderer.render("subject", {"reference": reference,
                                        "original": original_subject(subject)}, "mail")
    return " ".join(title.split()), renderer.render("body", context, "mail") + "\n"


def build_message(letter: Letter, *, from_name: str, from_address: str,
                  when: datetime) -> EmailMessage:
    """The MIME message; ``Auto-Submitted`` tells other robots not to answer it."""
    message = EmailMessage()
    message["From"] = Address(display_name=from_name, addr_spec=from_address)
    message["To"] = letter.recipient
    message["Subject"] = letter.subject
    message["Reply-To"] = letter.reply_to
    message["Date"] = format_datetime(when)
    message["Message-ID"] = letter.message_id
    if letter.in_reply_to:
        message["In-Reply-To"] = letter.in_reply_to
    if letter.references:
        message["References"] = " ".join(dict.fromkeys(letter.references))
    message["Auto-Submitted"] = letter.auto_submitted
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(letter.body)
    for filename, data, kind in letter.attachments:
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=filename)
    return message
