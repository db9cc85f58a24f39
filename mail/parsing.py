"""From raw bytes to what a person meant: sender, new text, the card, other attachments.

Everything here is defensive: real mail declares wrong charsets, forgets boundaries and
mangles base64, and a message that cannot be read fully is still read as far as it goes.
``parse_message`` never raises on content; the caller treats an exception as our bug.
The pieces: ``mime`` (safe accessors), ``bodytext``, ``attachments``, ``quotes``,
``answers``; here the headers and putting it together.
"""

from __future__ import annotations

import email
import email.parser
import email.policy
import hashlib
import re
from dataclasses import dataclass, field
from email.message import Message

from core.conversation import CardFile
from mail.answers import tidy_answers
from mail.attachments import attachments, card_in_text, choose_card
from mail.bodytext import MAX_BODY_CHARS, body_part, body_text, decode_bytes
from mail.mime import content_type, decode_words
from mail.quotes import new_lines

MAX_NAMED_ATTACHMENTS = 20  # named back to the sender; beyond this we only count
MAX_HEADER_CHARS = 4096  # of one header value we look at (the rest is kept in the raw row)
MESSAGE_ID_RE = re.compile(r"<[^<>\s]{1,500}>")
HEADER_SCAN_BYTES = 256 * 1024
# "Fwd:" as mail clients write it in their languages (Outlook: FW, WG, TR, RV, Doorst, VS).
FORWARD_SUBJECT = re.compile(r"^\s*(?:\[[^\]]{0,40}\]\s*)?(?:fwd?|wg|tr|rv|enc|doorst|vs|vb)\s?:",
                             re.IGNORECASE)


@dataclass(frozen=True)
class ParsedMail:
    """What the inbox needs to know about one message; headers are unfolded raw values."""

    message_id: str
    from_address: str
    subject: str
    text: str
    card: CardFile | None
    ignored: tuple[str, ...]
    ignored_more: int
    headers: dict[str, str]
    content_type: str
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    message: Message | None = field(default=None, repr=False, compare=False)
    defects: int = 0


def parse_message(raw: bytes, *, envelope_from: str = "", own_address: str = "") -> ParsedMail:
    """Read one message; missing or broken pieces come back empty, never as an error.

    ``own_address``: the submission address, so that our own e-mail quoted back in the
    body is never read as the sender's words (``quotes.new_lines``)."""
    try:
        msg: Message | None = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:  # noqa: BLE001 - e.g. RecursionError on absurdly nested parts
        msg = None
    if msg is None:
        return _flat(raw, envelope_from, own_address)
    headers = raw_headers(msg)
    body = body_part(msg)
    subject = decode_words(headers.get("subject", ""))
    try:
        found = attachments(msg, body)
    except Exception:  # noqa: BLE001
        found = []
    card, ignored = choose_card(found)
    try:
        written = body_text(body) if body is not None else ""
        if card is None:
            written, card = card_in_text(written)
        text = new_lines(written, own_address=own_address,
                         forwarded=bool(FORWARD_SUBJECT.match(subject)))
    except Exception:  # noqa: BLE001 - an unreadable body is an empty one
        text = ""
    named = tuple(ignored[:MAX_NAMED_ATTACHMENTS])
    return ParsedMail(
        message_id=message_id_of(headers.get("message-id", ""), raw),
        from_address=sender_address(headers.get("from", ""), envelope_from),
        subject=subject,
        text=tidy_answers(text),
        card=card,
        ignored=named,
        ignored_more=len(ignored) - len(named),
        headers=headers,
        content_type=content_type(msg),
        in_reply_to=tuple(MESSAGE_ID_RE.findall(headers.get("in-reply-to", ""))),
        references=tuple(MESSAGE_ID_RE.findall(headers.get("references", "")))[-20:],
        message=msg,
        defects=len(getattr(msg, "defects", [])),
    )


def _flat(raw: bytes, envelope_from: str, own_address: str) -> ParsedMail:
    """When the MIME structure cannot be parsed at all: its headers, and the rest as text."""
    headers = quick_headers(raw)
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(separator)
        if found:
            break
    else:
        body = b""
    text = new_lines(decode_bytes(body[:MAX_BODY_CHARS], None), own_address=own_address)
    return ParsedMail(
        message_id=message_id_of(headers.get("message-id", ""), raw),
        from_address=sender_address(headers.get("from", ""), envelope_from),
        subject=decode_words(headers.get("subject", "")), text=tidy_answers(text), card=None,
        ignored=(), ignored_more=0, headers=headers, content_type="text/plain",
        in_reply_to=tuple(MESSAGE_ID_RE.findall(headers.get("in-reply-to", ""))),
        references=tuple(MESSAGE_ID_RE.findall(headers.get("references", "")))[-20:],
        message=None, defects=1)


# -- headers ------------------------------------------------------------------------------

def raw_headers(msg: Message) -> dict[str, str]:
    """Lower-cased name -> first value, unfolded, raw UTF-8 repaired, capped in length."""
    found: dict[str, str] = {}
    try:
        items = list(msg.raw_items())
    except Exception:  # noqa: BLE001
        items = []
    for name, value in items:
        key = str(name).strip().lower()
        if key not in found:
            found[key] = _unfold(repair_header(str(value))[:MAX_HEADER_CHARS])
    return found


def quick_headers(raw: bytes) -> dict[str, str]:
    """The headers alone, without reading the body (for storing and threading)."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
            raw[:HEADER_SCAN_BYTES])
    except Exception:  # noqa: BLE001 - unreadable headers are read again, fully, later
        return {}
    return raw_headers(headers)


def repair_header(value: str) -> str:
    """Raw 8-bit header bytes (SMTPUTF8 mail) arrive as surrogate escapes: decode as UTF-8."""
    try:
        return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return value.encode("utf-8", "replace").decode("utf-8")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]*", " ", value).strip()


_ANGLE_RE = re.compile(r"<([^<>]*)>")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f<>\\,;:\"()\[\]]")


def from_mailbox(from_header: str) -> tuple[str, bool]:
    """The address of the From header's first mailbox, lower-cased, and whether the
    header is safe: parsed as RFC 5322 mailboxes (``email.headerregistry``), never out
    of a display name, so ``"=?utf-8?q?a:victim@x;?=" <me@y>`` is ``me@y``. Unsafe: a
    header the parser refuses (an encoded CR or LF), an address with characters no
    header can carry, or an angle address that is not the one the parser read."""
    value = from_header[:MAX_HEADER_CHARS].strip()
    if not value:
        return "", True
    try:
        header = email.policy.default.header_factory("from", value)
        addresses = list(getattr(header, "addresses", ()))
    except Exception:  # noqa: BLE001 - ValueError for CR/LF, IndexError on odd input
        return "", False
    if not addresses:
        return "", True
    address = addresses[0].addr_spec.strip()
    if "@" not in address:
        return "", True  # not an address at all: unreadable, not unsafe
    if _UNSAFE_CHARS.search(address.replace('"', "")) or "\n" in str(addresses[0]):
        return "", False
    angles = [a.strip() for a in _ANGLE_RE.findall(value)]
    if angles and address.lower() not in (a.lower().rpartition(":")[2] for a in angles):
        return "", False
    return (address.lower(), True) if _looks_like_address(address) else ("", True)


def sender_address(from_header: str, envelope_from: str) -> str:
    """The From address; the envelope sender when From is missing or unreadable, and
    nothing when From is unsafe (the inbox refuses such a message at DATA)."""
    address, safe = from_mailbox(from_header)
    if address or not safe:
        return address
    envelope = envelope_from.strip().strip("<>")
    return envelope.lower() if _looks_like_address(envelope) else ""


def _looks_like_address(address: str) -> bool:
    local, at, domain = address.strip().rpartition("@")
    return bool(at and local and domain and " " not in address.strip()
                and len(address) <= 320 and ("." in domain or domain == "localhost"))


def message_id_of(header: str, raw: bytes) -> str:
    """The Message-ID; a stable one made from the content when it is missing."""
    found = MESSAGE_ID_RE.findall(header)
    if found:
        return found[0]
    return f"<sha256.{hashlib.sha256(raw).hexdigest()}@missing-message-id>"


def message_key(message_id: str) -> str:
    """A short, indexable key for a Message-ID (they may be up to 998 characters)."""
    return hashlib.sha256(message_id.strip().lower().encode("utf-8", "replace")).hexdigest()


