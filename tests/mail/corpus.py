"""Malformed MIME as real senders produce it: broken structure, encodings, sizes, headers."""

from __future__ import annotations

import base64
from collections.abc import Callable

from tests.mail.conftest import CARD, SUBMIT

LIMIT = 300_000  # the test inbox's INTAKE_MAX_MESSAGE_BYTES


def _message(name: str, headers: str, body: bytes | str, *, sender: bool = True) -> bytes:
    head = (f"From: Tester <{name}@example.org>\r\n" if sender else "") + \
        f"To: {SUBMIT}\r\nSubject: corpus {name}\r\nMessage-ID: <{name}@example.org>\r\n" + \
        headers
    data = body.encode() if isinstance(body, str) else body
    return head.encode() + b"\r\n" + data


def _card_b64(cut: int | None = None) -> str:
    text = base64.encodebytes(CARD).decode().replace("\n", "\r\n")
    return text[:cut] if cut else text


def truncated_multipart(name: str) -> bytes:
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="X"\r\n',
                    "--X\r\nContent-Type: text/plain\r\n\r\nname: Truncated Data\r\n"
                    "--X\r\nContent-Type: text/markdown\r\nContent-Disposition: attachment; "
                    "filename=README.md\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    + _card_b64(300))


def missing_boundary(name: str) -> bytes:
    return _message(name, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
                    "--X\r\nContent-Type: text/plain\r\n\r\nname: No Boundary\r\n--X--\r\n")


def boundary_never_used(name: str) -> bytes:
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="nope"\r\n',
                    "name: Never Used Boundary\r\n")


def bad_base64_body(name: str) -> bytes:
    return _message(name, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
                    "Content-Transfer-Encoding: base64\r\n",
                    "bmFtZTogQmFk!!!not base64@@@\r\n====\r\nZZ\r\n")


def bad_base64_card(name: str) -> bytes:
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n',
                    "--B\r\nContent-Type: text/plain\r\n\r\nname: Bad Card\r\n"
                    "--B\r\nContent-Type: text/markdown\r\nContent-Disposition: attachment; "
                    "filename=README.md\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                    "LS0t%%%%\x01\r\n*not*base64*\r\n--B--\r\n")


def header_100k_folded(name: str) -> bytes:
    folded = "\r\n ".join(["x" * 70] * 1450)  # ~ 100 KB in one Subject, folded
    return _message(name, f"X-Huge: {folded}\r\nContent-Type: text/plain\r\n", "name: Folded\r\n")


def header_100k_one_line(name: str) -> bytes:
    return _message(name, f"X-Huge: {'y' * 100_000}\r\n", "name: One Line\r\n")


def thousand_attachments(name: str) -> bytes:
    parts = "".join(f"--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: "
                    f"attachment; filename=f{index}.bin\r\n\r\nAAAA\r\n" for index in range(1000))
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n',
                    "--B\r\nContent-Type: text/plain\r\n\r\nname: Many Files\r\n" + parts
                    + "--B--\r\n")


def deep_nesting(name: str) -> bytes:
    depth = 3000  # deeper than the standard library parser can recurse
    opening = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\r\n\r\n"
                      for i in range(depth))
    closing = "".join(f"--b{i}--\r\n" for i in reversed(range(depth + 1)))
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b0"\r\n',
                    opening + f"--b{depth}\r\nContent-Type: text/plain\r\n\r\nname: Deep\r\n"
                    + closing)


def unknown_charset(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain; charset=x-klingon\r\n"
                    "Content-Transfer-Encoding: 8bit\r\n", "name: Qapla\u2019 Data\r\n")


def garbage_content_type(name: str) -> bytes:
    return _message(name, 'Content-Type: ;;;=="\r\n', "name: Garbage Type\r\n")


def utf16_declared(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain; charset=utf-16\r\n", "name: Not UTF-16\r\n")


def broken_from(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", "name: Broken From\r\n",
                    sender=False).replace(b"To:", b"From: <<<@@@>>> \"unterminated\r\nTo:", 1)


def no_from(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", "name: No From\r\n", sender=False)


def nul_bytes(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", b"name: Nul\x00 Bytes\x00\r\n")


def latin1_header_bytes(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", "name: Latin\r\n").replace(
        b"Subject: corpus", b"Subject: donn\xe9es corpus", 1)


def broken_quoted_printable(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\nContent-Transfer-Encoding: "
                    "quoted-printable\r\n", "name: Q=ZZP=\r\n=\r\n=E9=\r\n")


def broken_encoded_words(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", "name: Encoded\r\n").replace(
        b"Subject: corpus", b"Subject: =?utf-8?b?!!!?= =?x-none?q?=FF?= corpus", 1)


def broken_forwarded_message(name: str) -> bytes:
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n',
                    "--B\r\nContent-Type: text/plain\r\n\r\nname: Forwarded\r\n"
                    "--B\r\nContent-Type: message/rfc822\r\n\r\n\x01\x02garbage without headers"
                    "\r\n--B--\r\n")


def multipart_without_parts(name: str) -> bytes:
    return _message(name, "Content-Type: multipart/alternative\r\n", "name: Alternative\r\n")


def empty_body(name: str) -> bytes:
    return _message(name, "Content-Type: text/plain\r\n", "")


def no_headers_at_all(name: str) -> bytes:
    return b"name: Headless\r\nurl: https://example.org/x\r\n"


def long_rfc2231_filename(name: str) -> bytes:
    pieces = "".join(f"\r\n filename*{i}*=utf-8''{'%C3%A9' * 40};" for i in range(60))
    return _message(name, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n',
                    "--B\r\nContent-Type: text/plain\r\n\r\nname: Long Filename\r\n"
                    "--B\r\nContent-Type: text/markdown\r\nContent-Disposition: attachment;"
                    f"{pieces}\r\n filename*60*=%ZZ.md\r\n\r\n---\r\n--B--\r\n")


def report_without_status(name: str) -> bytes:
    return _message(name, 'Content-Type: multipart/report; report-type=delivery-status; '
                    'boundary="R"\r\n', "--R\r\nContent-Type: text/plain\r\n\r\nhello\r\n--R--\r\n")


Maker = Callable[[str], bytes]
CORPUS: dict[str, Maker] = {maker.__name__.replace("_", "-"): maker for maker in [
    truncated_multipart, missing_boundary, boundary_never_used, bad_base64_body,
    bad_base64_card, header_100k_folded, header_100k_one_line, thousand_attachments,
    deep_nesting, unknown_charset, garbage_content_type, utf16_declared, broken_from, no_from,
    nul_bytes, latin1_header_bytes, broken_quoted_printable, broken_encoded_words,
    broken_forwarded_message, multipart_without_parts, empty_body, no_headers_at_all,
    long_rfc2231_filename, report_without_status]}
# What the SMTP server itself refuses (nothing of them is stored).
REFUSED_BY_SMTP = {"header-100k-one-line": 500}


def build(name: str) -> bytes:
    data = CORPUS[name](name)
    assert len(data) < LIMIT, (name, len(data))
    return data
