"""Attachments: which one is the dataset card, and the names of the others."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from core.conversation import CardFile
from mail.mime import content_type, disposition, filename, leaves, payload_bytes

CARD_EXTENSIONS = (".md", ".markdown", ".txt")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
CARD_TYPES = (*MARKDOWN_TYPES, "text/plain")


@dataclass(frozen=True)
class Attachment:
    """One attached file as sent (decoded from its transfer encoding as far as possible)."""

    filename: str
    content_type: str
    data: bytes


def attachments(msg: Message, body: Message | None) -> list[Attachment]:
    """Every attached file (a non-text part counts, even without a name), in order."""
    found: list[Attachment] = []
    for part in leaves(msg):
        try:
            if not _is_attachment(part, body):
                continue
            kind = content_type(part)
            name = filename(part) or _default_name(kind)
            found.append(Attachment(name, kind, payload_bytes(part)))
        except Exception:  # noqa: BLE001 - one broken part does not hide the others
            continue
    return found


def _is_attachment(part: Message, body: Message | None) -> bool:
    if part is body:
        return False
    kind = content_type(part)
    if disposition(part) == "attachment" or filename(part) or kind in MARKDOWN_TYPES:
        return True
    return not kind.startswith("text/") and not kind.startswith("multipart/")


def _default_name(kind: str) -> str:
    if kind in MARKDOWN_TYPES:
        return "card.md"
    if kind == "text/plain":
        return "card.txt"
    if kind == "message/rfc822":
        return "message.eml"
    major, _, minor = kind.partition("/")
    return f"{major or 'file'}.{minor or 'bin'}"[:60]


def is_card(attachment: Attachment) -> bool:
    name = attachment.filename.lower()
    if name.endswith(CARD_EXTENSIONS):
        return True
    return attachment.content_type in CARD_TYPES and "." not in name.rsplit("/", 1)[-1]


def choose_card(attachments: list[Attachment]) -> tuple[CardFile | None, list[str]]:
    """The card is the first Markdown attachment, else the first text one; others are named."""
    candidates = [a for a in attachments if is_card(a)]
    candidates.sort(key=lambda a: not a.filename.lower().endswith((".md", ".markdown")))
    card = candidates[0] if candidates else None
    ignored = [a.filename for a in attachments if a is not card]
    if card is None:
        return None, ignored
    return CardFile(filename=card.filename, data=card.data), ignored
