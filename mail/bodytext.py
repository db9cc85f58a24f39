"""The text of a message: the right part, in the right charset, HTML made text, unflowed."""

from __future__ import annotations

import re
from email.message import EmailMessage, Message

from mail.answers import field_of
from mail.htmltext import html_to_text
from mail.mime import charset, content_type, filename, leaves, param, payload_bytes

MAX_BODY_CHARS = 100_000
_WIDE = ("utf-16", "utf-32", "ucs")
_SEVEN_BIT = ("iso-2022", "utf-7", "hz")
_META_CHARSET = re.compile(rb"<meta[^>]{0,200}charset=[\"']?([A-Za-z0-9_.:-]{1,40})", re.I)


def body_part(msg: Message) -> Message | None:
    """The part a person wrote in: plain text first, else HTML, else whatever text there is."""
    try:
        if isinstance(msg, EmailMessage):
            part = msg.get_body(preferencelist=("plain", "html"))
            if part is not None:
                return part
    except Exception:  # noqa: BLE001 - a broken structure: look for any text part below
        pass
    for part in leaves(msg):
        if content_type(part) in ("text/plain", "text/html") and not filename(part):
            return part
    if content_type(msg).startswith("multipart/") and isinstance(msg.get_payload(), str):
        return msg  # "multipart" without a usable boundary: its payload is all there is
    return None


def body_text(part: Message) -> str:
    """The part's text, decoded whatever its declared charset; HTML made into text."""
    data = payload_bytes(part)
    is_html = content_type(part) == "text/html"
    declared = charset(part)
    if is_html and declared is None:
        meta = _META_CHARSET.search(data[:4096])
        declared = meta.group(1).decode("ascii", "replace").lower() if meta else None
    text = decode_bytes(data, declared)[:MAX_BODY_CHARS]
    if is_html:
        return html_to_text(text)
    if param(part, "format").lower() == "flowed":
        return unflow(text, delsp=param(part, "delsp").lower() == "yes")
    return text


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Decode text whose declared charset may be missing, unknown or simply wrong.

    Bytes that are valid UTF-8 are almost never meant as anything else, so UTF-8 wins over
    the declaration, except for charsets whose bytes UTF-8 would misread (the 7-bit and
    wide ones). An unknown or failing declaration ends in Windows-1252, which decodes
    every byte.
    """
    if declared and declared.startswith(_WIDE) and b"\x00" not in data:
        declared = None  # wide charsets always contain NUL bytes in ordinary text
    first = bool(declared and declared.startswith(_WIDE + _SEVEN_BIT))
    candidates = [declared] if declared and first else []
    candidates.append("utf-8")
    if declared and not first:
        candidates.append(declared)
    for candidate in candidates:
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError, ValueError):
            continue
    return data.decode("cp1252", "replace")


def unflow(text: str, delsp: bool = False) -> str:
    """Undo RFC 3676 ``format=flowed``: a line ending in a space continues on the next,
    except into a ``Key: value`` line (a space typed before Enter is no soft break)."""
    out: list[tuple[int, str]] = []
    joining = False
    for line in text.replace("\r\n", "\n").split("\n"):
        depth = len(line) - len(line.lstrip(">"))
        content = line[depth:]
        if content.startswith(" "):
            content = content[1:]  # space-stuffing
        flowed = content.endswith(" ") and content.rstrip() != "--"
        if delsp and flowed:
            content = content[:-1]
        if joining and out and out[-1][0] == depth and field_of(content) is None:
            out[-1] = (depth, out[-1][1] + content)
        else:
            out.append((depth, content))
        joining = flowed
    return "\n".join(">" * depth + (" " if depth else "") + content for depth, content in out)
