"""Reading a card's bytes: size, kind of file, extension and encoding."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from core.cards import check_card


def zipped(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, "<xml/>")
    return buffer.getvalue()


@pytest.mark.parametrize("filename", ["README.md", "card.markdown", "CARD.MD", "card.txt", None])
def test_allowed_names(card: str, filename: str | None) -> None:
    report = check_card(card.encode(), filename)
    assert report.verdict == "passes"
    assert report.readable and report.filename == filename


def test_report_identifies_the_bytes(card: str) -> None:
    data = card.encode()
    report = check_card(data, "README.md")
    assert report.size == len(data)
    assert report.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("filename", ["card.rst", "README", "card.html", "card.md.exe"])
def test_other_extensions_are_refused(card: str, filename: str) -> None:
    report = check_card(card.encode(), filename)
    assert (report.verdict, report.exit_code) == ("unreadable", 2)
    assert [f.code for f in report.findings] == ["bad_extension"]
    assert ".md, .markdown or .txt" in report.findings[0].message


def test_size_limit_is_a_parameter(card: str) -> None:
    data = card.encode()
    assert check_card(data, "README.md", max_bytes=len(data)).verdict == "passes"
    report = check_card(data, "README.md", max_bytes=len(data) - 1)
    assert report.verdict == "unreadable"
    assert report.findings[0].code == "too_big"
    assert str(len(data)) in report.findings[0].message


@pytest.mark.parametrize(("data", "kind", "words"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "pdf", "PDF"),
    (zipped("[Content_Types].xml", "word/document.xml"), "word", "Word"),
    (zipped("[Content_Types].xml", "xl/workbook.xml"), "excel", "Excel"),
    (zipped("data/train.csv"), "zip", "zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100), "ole", "Office"),
    (b"\x89PNG\r\n\x1a\n" + bytes(20), "png", "image"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "jpeg", "image"),
    (b"GIF89a\x01\x00", "gif", "image"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "webp", "image"),
    (b"\x1f\x8b\x08\x00", "gzip", "compressed"),
])
def test_binary_files_renamed_to_md_are_recognised(data: bytes, kind: str, words: str) -> None:
    report = check_card(data, "README.md")
    assert report.verdict == "unreadable"
    finding = report.findings[0]
    assert (finding.code, finding.context["kind"]) == ("binary_file", kind)
    assert words in finding.message
    assert "README.md" in finding.hint or ".md" in finding.hint


def test_nul_bytes_mean_binary(card: str) -> None:
    data = card.encode()[:100] + b"\x00" + card.encode()[100:]
    finding = check_card(data, "README.md").findings[0]
    assert (finding.code, finding.context["offset"]) == ("binary_file", 100)


def test_bad_utf8_says_which_byte(card: str) -> None:
    data = card.encode() + "Café".encode("latin-1")
    finding = check_card(data, "README.md").findings[0]
    assert finding.code == "bad_encoding"
    assert finding.context["offset"] == len(card.encode()) + 3
    assert finding.context["byte"] == "0xE9"
    assert finding.context["line"] == card.count("\n") + 1
    assert f"byte {len(card.encode()) + 3}" in finding.message
    assert "UTF-8" in finding.hint


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-le-bom", "utf-16-be-bom"])
def test_boms_are_understood(card: str, encoding: str) -> None:
    if encoding == "utf-16-le-bom":
        data = b"\xff\xfe" + card.encode("utf-16-le")
    elif encoding == "utf-16-be-bom":
        data = b"\xfe\xff" + card.encode("utf-16-be")
    else:
        data = card.encode(encoding)
    assert check_card(data, "README.md").findings == []


def test_utf16_without_bom_is_refused_clearly(card: str) -> None:
    finding = check_card(card.encode("utf-16-le"), "README.md").findings[0]
    assert finding.code == "unsupported_encoding"
    assert "UTF-16 without a BOM" in finding.message


def test_broken_utf16_says_which_byte(card: str) -> None:
    data = b"\xff\xfe" + "ab".encode("utf-16-le") + b"\x00\xdc" + "cd".encode("utf-16-le")
    finding = check_card(data, "README.md").findings[0]
    assert (finding.code, finding.context["encoding"], finding.context["offset"]) == (
        "bad_encoding", "UTF-16", 6)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_endings(card: str, newline: str) -> None:
    assert check_card(card.replace("\n", newline).encode(), "README.md").findings == []


def test_empty_file() -> None:
    report = check_card(b"", "README.md")
    assert [f.code for f in report.findings] == ["empty_card"]
    assert report.exit_code == 1
