"""Attachments: which one is the dataset card, and the names of the others.

A card arrives in many wrappers, and each is opened here rather than refused: Outlook's
``winmail.dat`` (TNEF, read with ``tnefparse``: pure Python, no dependencies, the one
maintained reader), a zip of the dataset's folder, a message forwarded as an attachment
(``message/rfc822``, Thunderbird's and Outlook's "forward as attachment"). Only what
looks like a card is taken out of them, within fixed limits; the wrapper is named back
when nothing in it is used.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from dataclasses import dataclass
from email.message import Message

from core.conversation import CardFile
from mail.bodytext import body_part
from mail.mime import content_type, disposition, filename, leaves, payload_bytes

log = logging.getLogger(__name__)

CARD_EXTENSIONS = (".md", ".markdown", ".txt")
MARKDOWN_TYPES = ("text/markdown", "text/x-markdown")
CARD_TYPES = (*MARKDOWN_TYPES, "text/plain")
TNEF_TYPES = ("application/ms-tnef", "application/vnd.ms-tnef")
ZIP_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-zip")
MAX_NESTING = 3  # forwarded messages inside forwarded messages, looked into this deep
MAX_MEMBERS = 2000  # zip entries looked at
MAX_MEMBER_BYTES = 4 * 1024 * 1024  # a card inside a wrapper, read at most this far


@dataclass(frozen=True)
class Attachment:
    """One attached file as sent (decoded from its transfer encoding as far as possible)."""

    filename: str
    content_type: str
    data: bytes


def attachments(msg: Message, body: Message | None, depth: int = 0) -> list[Attachment]:
    """Every attached file (a non-text part counts, even without a name), in order; the
    files inside a TNEF, zip or forwarded message in place of it when a card is there."""
    found: list[Attachment] = []
    for part in leaves(msg):
        try:
            if not _is_attachment(part, body):
                continue
            kind = content_type(part)
            name = filename(part) or _default_name(kind)
            if kind == "message/rfc822" and depth < MAX_NESTING:
                inner = _forwarded(part, depth)
                if inner:
                    found += inner
                    continue
            attachment = Attachment(name, kind, payload_bytes(part))
            found += _unwrapped(attachment) or [attachment]
        except Exception:  # noqa: BLE001 - one broken part does not hide the others
            continue
    return found


def _forwarded(part: Message, depth: int) -> list[Attachment]:
    """The cards among a forwarded message's own attachments."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        return []
    return [a for a in attachments(inner, body_part(inner), depth + 1) if is_card(a)]


def _unwrapped(attachment: Attachment) -> list[Attachment]:
    """The cards inside a TNEF or zip attachment; empty when it holds none (or is broken)."""
    name = attachment.filename.lower()
    try:
        if attachment.content_type in TNEF_TYPES or name == "winmail.dat":
            return [a for a in _tnef(attachment.data) if is_card(a)]
        if attachment.content_type in ZIP_TYPES or name.endswith(".zip"):
            return _zip_cards(attachment.data)
    except Exception:  # noqa: BLE001 - a broken wrapper is named back, not a failure
        log.info("could not open the attachment %r", attachment.filename[:80])
    return []


def _tnef(data: bytes) -> list[Attachment]:
    from tnefparse import TNEF

    found: list[Attachment] = []
    for inner in TNEF(data, do_checksum=False).attachments:
        name = str(inner.long_filename() or inner.name or "").replace("\x00", "").strip()
        found.append(Attachment(name.rsplit("\\", 1)[-1].rsplit("/", 1)[-1][:200],
                                "application/octet-stream", bytes(inner.data)))
    return found


def _zip_cards(data: bytes) -> list[Attachment]:
    """Card-named files of a zip, READMEs first, the shallowest first; bounded reads."""
    found: list[tuple[tuple[bool, int], Attachment]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist()[:MAX_MEMBERS]:
            base = info.filename.rsplit("/", 1)[-1]
            if info.is_dir() or base.startswith(".") or "__MACOSX" in info.filename:
                continue
            candidate = Attachment(base[:200], "application/octet-stream", b"")
            if not is_card(candidate) or info.file_size > MAX_MEMBER_BYTES:
                continue
            with archive.open(info) as member:
                content = member.read(MAX_MEMBER_BYTES + 1)
            if len(content) > MAX_MEMBER_BYTES:
                continue  # the size it declared was a lie
            rank = (not base.lower().startswith("readme"), info.filename.count("/"))
            found.append((rank, Attachment(base[:200], candidate.content_type, content)))
    return [attachment for _rank, attachment in sorted(found, key=lambda item: item[0])]


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


# A card pasted into the body: YAML front matter with a key only dataset cards have.
_FRONT_MATTER = re.compile(r"^---[ \t]*\n((?:.*\n){1,400}?)(?:---|\.\.\.)[ \t]*(?:\n|$)",
                           re.MULTILINE)
_CARD_KEY = re.compile(
    r"^(?:license|license_name|pretty_name|language|task_categories|task_ids|tags|"
    r"size_categories|configs|dataset_info|annotations_creators|source_datasets|"
    r"multilinguality|unique_metadata_identifier)[ \t]*:", re.MULTILINE)
_SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)
PASTED_CARD_NAME = "README.md"


def card_in_text(text: str) -> tuple[str, CardFile | None]:
    """A dataset card pasted into the message (a phone cannot attach, a web form only
    takes text): the words above it, and the card from its front matter to the end of the
    message or its signature; ``(text, None)`` when there is none."""
    normalised = text.replace("\r\n", "\n")
    for match in _FRONT_MATTER.finditer(normalised):
        if not _CARD_KEY.search(match.group(1)):
            continue
        card = normalised[match.start():]
        signature = _SIGNATURE.search(card, match.end() - match.start())
        if signature is not None:
            card = card[:signature.start()]
        data = card.strip("\n").encode("utf-8") + b"\n"
        return normalised[:match.start()], CardFile(filename=PASTED_CARD_NAME, data=data)
    return text, None
