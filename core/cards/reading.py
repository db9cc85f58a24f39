"""Turn the bytes a contributor sent into card text, or say clearly why not.

Checks run cheapest first: size, then well-known binary signatures (so a PDF
renamed to ``.md`` is called a PDF), then the file extension, then decoding.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from pathlib import PurePosixPath

from core.cards.findings import Finding, error

ALLOWED_EXTENSIONS = (".md", ".markdown", ".txt")

# (signature at offset 0, kind). Kinds are named for people in card_finding.j2.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "pdf"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"{\\rtf", "rtf"),
    (b"\x7fELF", "executable"),
    (b"MZ", "executable"),
)
_ZIP_SIGNATURES = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# Names inside a zip that say which document it is (first match wins).
_ZIP_MEMBERS: tuple[tuple[bytes, str], ...] = (
    (b"word/", "word"),
    (b"xl/", "excel"),
    (b"ppt/", "powerpoint"),
    (b"mimetypeapplication/epub+zip", "epub"),
    (b"mimetypeapplication/vnd.oasis.opendocument", "opendocument"),
)


@dataclass(frozen=True)
class Decoded:
    """Card text (line endings as sent) and the encoding it came in."""

    text: str
    encoding: str


def extension_of(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def sniff_binary(data: bytes) -> str | None:
    """The kind of binary file ``data`` is, or None when it may be text."""
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            if kind == "executable" and signature == b"MZ" and b"\x00" not in data[:512]:
                continue  # a text file may well start with "MZ"
            return kind
    if data.startswith(_ZIP_SIGNATURES):
        head = data[:65536]
        for member, kind in _ZIP_MEMBERS:
            if member in head:
                return kind
        return "zip"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"mif1", b"avif"):
        return "heic"
    return None


def _looks_utf16_without_bom(data: bytes) -> bool:
    """ASCII text saved as UTF-16 has a NUL in every other byte."""
    sample = data[:4096]
    if len(sample) < 4:
        return False
    even = sample[0::2].count(0)
    odd = sample[1::2].count(0)
    half = len(sample) // 2
    return max(even, odd) > 0.4 * half and min(even, odd) < 0.05 * half


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes) -> Decoded | Finding:
    """Decode card bytes: UTF-8 (BOM optional) or UTF-16 with a BOM."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return error("card", "unsupported_encoding", encoding="UTF-32")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        codec = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        body = data[2:]
        try:
            text = body.decode(codec)
        except UnicodeDecodeError as exc:
            offset = exc.start + 2
            return error("card", "bad_encoding", encoding="UTF-16", offset=offset,
                         byte=f"0x{data[offset]:02X}" if offset < len(data) else "",
                         line=_utf16_line(body, exc.start, codec))
        if "\x00" in text:
            return error("card", "binary_file", kind="binary", offset=None)
        return Decoded(text, "UTF-16")
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[3:] if bom else data
    if b"\x00" in body:
        if _looks_utf16_without_bom(body):
            return error("card", "unsupported_encoding", encoding="UTF-16 without a BOM")
        offset = body.index(b"\x00") + (3 if bom else 0)
        return error("card", "binary_file", kind="binary", offset=offset)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start + (3 if bom else 0)
        return error("card", "bad_encoding", encoding="UTF-8", offset=offset,
                     byte=f"0x{data[offset]:02X}", line=_line_of(data, offset))
    return Decoded(text, "UTF-8 with BOM" if bom else "UTF-8")


def _utf16_line(body: bytes, byte_offset: int, codec: str) -> int:
    """Line number of a byte offset in UTF-16 text (for the error message)."""
    good = body[: byte_offset - byte_offset % 2]
    return good.decode(codec, errors="replace").count("\n") + 1


def read_card_bytes(data: bytes, filename: str | None, max_bytes: int) -> Decoded | Finding:
    """Text of the card, or the one finding that makes it unreadable."""
    if len(data) > max_bytes:
        return error("card", "too_big", size=len(data), max_bytes=max_bytes)
    kind = sniff_binary(data)
    if kind is not None:
        return error("card", "binary_file", kind=kind, offset=None)
    if filename is not None and extension_of(filename) not in ALLOWED_EXTENSIONS:
        return error("card", "bad_extension", filename=filename,
                     extension=extension_of(filename), allowed=list(ALLOWED_EXTENSIONS))
    return decode(data)
