"""Safe accessors for MIME parts: broken mail raises in surprising places, these never do."""

from __future__ import annotations

import re
from email.header import decode_header, make_header
from email.message import Message

MAX_PARTS = 2000  # walked at most; the rest of a pathological message is not looked at


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:  # noqa: BLE001
        return "text/plain"


def param(part: Message, name: str) -> str:
    try:
        return str(part.get_param(name, "") or "")
    except Exception:  # noqa: BLE001
        return ""


def charset(part: Message) -> str | None:
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001
        return None
    return declared.strip().lower() if declared else None


def disposition(part: Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:  # noqa: BLE001
        return None


def payload_bytes(part: Message) -> bytes:
    """The decoded payload; what is there, as bytes, when the transfer encoding is broken."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - e.g. hopeless base64: keep what is there as text
        payload = None
    if isinstance(payload, bytes):
        return payload
    raw = part.get_payload()
    if isinstance(raw, str):
        return raw.encode("ascii", "surrogateescape")
    return b""


def decode_words(value: str) -> str:
    """An RFC 2047 encoded header (``=?utf-8?q?...?=``) as text; the raw value if broken."""
    try:
        decoded = str(make_header(decode_header(value)))
    except Exception:  # noqa: BLE001 - any broken encoding falls back to the raw text
        decoded = value
    return " ".join(decoded.split())[:998]


def filename(part: Message) -> str:
    """The attachment's file name, decoded, without path separators."""
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        name = ""
    return re.sub(r"[/\\]", "_", decode_words(str(name))).strip()[:200]


def leaves(msg: Message) -> list[Message]:
    """Non-multipart parts in order, at most ``MAX_PARTS`` of them, without recursion."""
    found: list[Message] = []
    stack: list[Message] = [msg]
    visited = 0
    while stack and visited < MAX_PARTS:
        part = stack.pop()
        visited += 1
        try:
            payload = part.get_payload() if part.is_multipart() else None
        except Exception:  # noqa: BLE001
            payload = None
        if isinstance(payload, list) and content_type(part) != "message/rfc822":
            stack.extend(reversed(payload))
        else:
            found.append(part)
    return found
