"""Reading what people and their mail clients send (no server, no database)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from core.conversation.interpret import field_pairs
from mail.answers import tidy_answers
from mail.bodytext import decode_bytes, unflow
from mail.compose import original_subject
from mail.htmltext import html_to_text
from mail.parsing import parse_message
from mail.quotes import new_lines
from mail.threads import SubmitAddress
from tests.mail.conftest import CARD, letter


def raw(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n" + body


def test_the_site_mailto_message_as_it_is() -> None:
    mail = parse_message(raw(
        "From: Ada <ada@example.org>\nTo: data@thealliance.ai\n"
        "Subject: I want to contribute an OTDI dataset\n",
        b"dataset-name: Ocean\r\ndataset-url: https://example.org/ocean\r\ndataset-card: \r\n"))
    assert mail.text == ("dataset-name: Ocean\ndataset-url: https://example.org/ocean\n"
                         "dataset-card:")  # the empty card line means "the README"
    assert (mail.from_address, mail.subject) == ("ada@example.org",
                                                 "I want to contribute an OTDI dataset")


@pytest.mark.parametrize(("data", "declared", "expected"), [
    ("Océan".encode(), "iso-8859-1", "Océan"),  # UTF-8 declared as Latin-1
    ("Océan".encode("latin-1"), "utf-8", "Océan"),  # Latin-1 declared as UTF-8
    ("Océan".encode(), "x-unknown", "Océan"),  # a charset nobody knows
    ("Océan".encode("cp1252"), None, "Océan"),  # none declared
    ("Océan".encode("utf-16"), "utf-16", "Océan"),  # a real wide charset
    (b"plain ascii", "utf-16", "plain ascii"),  # a wide charset that is not
    ("日本語".encode("shift_jis"), "shift_jis", "日本語"),
    ("Łódź".encode(), "windows-1250", "Łódź"),  # UTF-8 declared as a legacy charset
    ("Łódź".encode("windows-1250"), "windows-1250", "Łódź"),
    ("日本語".encode("iso-2022-jp"), "iso-2022-jp", "日本語"),  # 7-bit, read as declared
])
def test_any_charset_even_a_wrong_one(data: bytes, declared: str | None, expected: str) -> None:
    assert decode_bytes(data, declared) == expected


def test_html_only_is_made_text_without_quotes_or_styles() -> None:
    html = ("<html><head><title>t</title><style>p{}</style></head><body>"
            "<div>Dataset name: Ocean&nbsp;Temps</div><p>line<br>break</p>"
            "<script>alert(1)</script><div class='gmail_quote'>On Mon wrote: old</div>"
            "<blockquote type='cite'>Hosting: yes</blockquote>"
            "<div id='divRplyFwdMsg'>From: someone</div><p>Outlook history</p>")
    assert html_to_text(html) == "Dataset name: Ocean Temps\n\nline\nbreak"


def test_broken_html_does_not_lose_the_text() -> None:
    assert "name: X" in html_to_text("<div><p>name: X<b></i></div></blockquote><<>>")


@pytest.mark.parametrize(("body", "expected"), [
    ("no\n\nSent from my iPhone\n\nOn Tue, Dec 3, 2024 at 10:00 AM OTDI <data@x.org> wrote:\n"
     "> Hosting: yes\n> What is the name?\n", "no"),
    ("Ja, bitte.\n\nAm 03.12.2024 um 10:00 schrieb OTDI <data@x.org>:\n> Hosting?\n",
     "Ja, bitte."),
    ("yes, I agree\n\n________________________________\nFrom: OTDI <data@x.org>\n"
     "Sent: Tuesday, December 3, 2024 10:00 AM\nTo: Ada\nSubject: [OTDI] terms\n\nAgree?\n",
     "yes, I agree"),
    ("> What is the name?\nOcean\n> Where is it?\nhttps://example.org/ocean\n",
     "Ocean\nhttps://example.org/ocean"),
    ("Hi team,\n\nname: Ocean\n\nCheers,\nAda\n-- \nAda Lovelace\nExample Lab\n", "name: Ocean"),
    ("Hello,\nThanks, here are the details:\nname: Ocean\n\nBest,\nAda",
     "Thanks, here are the details:\nname: Ocean"),
    ("Hi", "Hi"),
])
def test_only_the_new_lines_of_a_reply(body: str, expected: str) -> None:
    assert new_lines(body) == expected


def test_key_lines_end_with_their_line() -> None:
    text = ("Dataset name: Ocean\nDataset location:\nhttps://example.org/x\n\n"
            "I agree to the terms for contribution: yes\n\nThe card is attached.\n"
            "Modalities: \nDomain:")
    # A value ends with its line; the prose around the lines is kept on lines of its own
    # (a sentence may answer what no label does), empty keys are dropped.
    tidied = tidy_answers(text)
    assert tidied == ("Dataset name: Ocean\nDataset location: https://example.org/x\n\n"
                      "I agree to the terms for contribution: yes\n\nThe card is attached.")
    assert field_pairs(tidied) == [("name", "Ocean"), ("location", "https://example.org/x"),
                                   ("consent", "yes")]
    assert tidy_answers("just an answer\non two lines") == "just an answer\non two lines"


def test_labels_of_the_form_and_their_variants() -> None:
    text = ("I want the AI Alliance to host this dataset: yes\nE-mail address: ada@example.org\n"
            "Domain specialty: Marine\nDataset URL: https://example.org/x\nThanks!")
    assert field_pairs(tidy_answers(text)) == [
        ("hosting", "yes"), ("email", "ada@example.org"), ("domain", "Marine"),
        ("location", "https://example.org/x")]


def test_format_flowed_lines_are_joined() -> None:
    assert unflow("Dataset name: A very \r\nlong name\r\n> q \r\n> r\r\n-- \r\nsig") == \
        "Dataset name: A very long name\n> q r\n-- \nsig"


def test_the_card_is_the_markdown_attachment_and_the_rest_is_named() -> None:
    message = letter("name: X", attachments=[("notes.txt", b"notes", "text/plain"),
                                             ("README.md", CARD, "text/markdown"),
                                             ("report.pdf", b"%PDF-1.7", "application/pdf")])
    mail = parse_message(message.as_bytes())
    assert mail.card is not None and (mail.card.filename, mail.card.data) == ("README.md", CARD)
    assert mail.ignored == ("notes.txt", "report.pdf")


@pytest.mark.parametrize(("filename", "kind", "card_name"), [
    ("card.markdown", "application/octet-stream", "card.markdown"),
    ("README.txt", "text/plain", "README.txt"),
    (None, "text/markdown", "card.md"),
    (None, "text/plain", "card.txt"),
])
def test_what_counts_as_the_card(filename: str | None, kind: str, card_name: str) -> None:
    message = letter("see attached")
    part = EmailMessage()
    maintype, subtype = kind.split("/")
    if maintype == "text":
        part.set_content(CARD.decode(), subtype=subtype, disposition="attachment",
                         filename=filename)
    else:
        part.set_content(CARD, maintype=maintype, subtype=subtype, disposition="attachment",
                         filename=filename)
    message.make_mixed()
    message.attach(part)
    mail = parse_message(message.as_bytes())
    assert mail.card is not None and mail.card.filename == card_name
    assert mail.card.data.replace(b"\r\n", b"\n") == CARD


def test_a_message_that_is_only_an_attachment() -> None:
    mail = parse_message(raw("From: a@example.org\nContent-Type: application/pdf\n"
                             "Content-Disposition: attachment; filename=card.pdf\n", b"%PDF"))
    assert (mail.text, mail.card, mail.ignored) == ("", None, ("card.pdf",))
    card = parse_message(raw("From: a@example.org\nContent-Type: text/markdown\n", CARD))
    assert card.card is not None and card.card.filename == "card.md"


def test_sender_and_message_id_fallbacks() -> None:
    broken = parse_message(raw("From: <<<@@@>>>\nSubject: x\n", b"hi"),
                           envelope_from="Ada@Example.org")
    assert broken.from_address == "ada@example.org"
    assert broken.message_id.startswith("<sha256.")
    again = parse_message(raw("From: <<<@@@>>>\nSubject: x\n", b"hi"))
    assert again.message_id == broken.message_id  # the same bytes, the same id
    named = parse_message(raw("From: =?utf-8?q?Ren=C3=A9e?= <Renee@Example.FR>\n", b"x"))
    assert named.from_address == "renee@example.fr"


def test_threading_headers_are_read() -> None:
    mail = parse_message(raw("From: a@example.org\nIn-Reply-To: <a@x>\n"
                             "References: <r1@x>\n <r2@x> <a@x>\n", b"x"))
    assert mail.in_reply_to == ("<a@x>",) and mail.references == ("<r1@x>", "<r2@x>", "<a@x>")


def test_plus_addresses() -> None:
    address = SubmitAddress.parse("Data@OTDI.test")
    assert address.tag_of("data@otdi.test") == ""
    assert address.tag_of("DATA+AbC@otdi.TEST") == "abc"
    assert address.tag_of("<data+x@otdi.test>") == "x"
    assert address.tag_of("data@other.test") is None
    assert address.tag_of("database@otdi.test") is None
    assert address.with_tag("t1") == "data+t1@otdi.test"


def test_subjects_keep_their_topic() -> None:
    assert original_subject("Re: RE: Fwd: [OTDI-0042] Re: Ocean data") == "Ocean data"
    assert original_subject("AW: [OTDI] Ihre\n Daten") == "Ihre Daten"
    assert original_subject("Re:") == ""
