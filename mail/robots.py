"""Never answer a robot (RFC 3834), and read the bounces of our own replies.

An out-of-office answering our reply, a mailing list, a delivery report: answering any
of them risks a loop between two robots, so none of them reaches the conversation. The
headers say so (RFC 3834); where a robot sets none, its subject line still does.
"""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser

from mail.parsing import ParsedMail, repair_header

ROBOT_LOCAL_PARTS = re.compile(
    r"^(?:mailer-daemon|postmaster|no-?reply|do-?not-?reply|donotreply|bounces?|"
    r"auto-?reply|autoresponder|listserv|majordomo)(?:[+._-].*)?$", re.IGNORECASE)
_PRESENCE_HEADERS = ("list-id", "list-unsubscribe", "x-autoreply", "x-autorespond",
                     "x-auto-response-suppress", "x-autoresponder")
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,500}>")
# Responders that set none of the headers above (old Exchange, hosting panels, Lotus
# Notes) still say what they are at the start of the subject, in their user's language.
ROBOT_SUBJECT = re.compile(
    r"^\s*(?:auto:|automatic reply|auto(?:matic)?[- ]?(?:reply|response)|autoreply|"
    r"out of (?:the )?office|abwesenheitsnotiz|automatische antwort|"
    r"r[ée]ponse automatique|respuesta autom[áa]tica|resposta autom[áa]tica|"
    r"risposta automatica|automatisch antwoord|autosvar|automatisk svar|"
    r"undeliver(?:able|ed mail)|delivery status notification|mail delivery failed|"
    r"returned mail:|delivery failure|unzustellbar|non remis)", re.IGNORECASE)


def robot_reason(mail: ParsedMail, envelope_from: str) -> str | None:
    """Why this message must not be answered, or None when a person may have written it."""
    envelope = envelope_from.strip()
    if envelope in ("", "<>"):
        return "null-sender"
    headers = mail.headers
    auto = headers.get("auto-submitted", "").split(";")[0].split("(")[0].strip().lower()
    if auto and auto != "no":
        return "auto-submitted"
    if headers.get("precedence", "").strip().lower() in ("bulk", "list", "junk", "auto_reply"):
        return "precedence"
    for name in _PRESENCE_HEADERS:
        if name in headers:
            return name
    if mail.content_type == "multipart/report":
        return "report"
    if ROBOT_SUBJECT.match(mail.subject):
        return "robot-subject"
    for address in (mail.from_address, envelope.strip("<>").lower()):
        local = address.rpartition("@")[0]
        if local and ROBOT_LOCAL_PARTS.match(local):
            return "robot-sender"
    return None


@dataclass(frozen=True)
class Bounce:
    """A delivery report about one of our messages: whom it failed for, and why."""

    original_message_ids: tuple[str, ...]
    recipients: tuple[str, ...]
    action: str
    status: str
    diagnostic: str


def delivery_report(mail: ParsedMail) -> Bounce | None:
    """Read a ``multipart/report`` delivery status notification; None if this is not one."""
    msg = mail.message
    if msg is None or mail.content_type != "multipart/report":
        return None
    fields: dict[str, list[str]] = {}
    original_ids: list[str] = []
    for part in _subparts(msg):
        kind = _kind(part)
        if kind == "message/delivery-status":
            for block in _status_blocks(part):
                for name, value in block.items():
                    fields.setdefault(name.lower(), []).append(repair_header(str(value)).strip())
        elif kind in ("text/rfc822-headers", "message/rfc822",
                      "message/rfc822-headers"):
            original_ids += _original_ids(part)
    recipients = tuple(_strip_type(v) for v in fields.get("final-recipient", [])[:20])
    if not recipients and not original_ids:
        return None  # a report, but not one about a delivery we can place
    return Bounce(
        original_message_ids=tuple(dict.fromkeys(original_ids)),
        recipients=recipients,
        action=(fields.get("action") or ["failed"])[0].lower()[:32],
        status=(fields.get("status") or [""])[0][:32],
        diagnostic=(fields.get("diagnostic-code") or [""])[0][:500],
    )


def _kind(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001
        return ""


def _subparts(msg: Message) -> list[Message]:
    payload = msg.get_payload()
    return [p for p in payload if isinstance(p, Message)][:20] if isinstance(payload,
                                                                            list) else []


def _status_blocks(part: Message) -> list[Message]:
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)][:40]
    if isinstance(payload, str):  # some MTAs send it as text
        return [HeaderParser(policy=email.policy.compat32).parsestr(block)
                for block in re.split(r"\r?\n\r?\n", payload)[:40]]
    return []


def _original_ids(part: Message) -> list[str]:
    payload = part.get_payload()
    headers: list[Message] = []
    if isinstance(payload, list):
        headers = [p for p in payload if isinstance(p, Message)][:1]
    elif isinstance(payload, str):
        headers = [HeaderParser(policy=email.policy.compat32).parsestr(payload[:65536])]
    found: list[str] = []
    for header in headers:
        for name, value in header.raw_items() if hasattr(header, "raw_items") else []:
            if str(name).lower() == "message-id":
                found += _MESSAGE_ID.findall(str(value))
    return found


def _strip_type(value: str) -> str:
    """``rfc822; ada@example.org`` -> ``ada@example.org``."""
    return value.split(";", 1)[-1].strip().strip("<>").lower()[:320]
