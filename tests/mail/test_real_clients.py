"""Mails as real clients and robots write them (tests/data/mail/README.md says whose
habit each one is): what is read out of each, and, over real SMTP, the answer its sender
gets. Nothing a person sent is lost, our own e-mail quoted back is never read again, and
no robot is answered."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.conversation.interpret import field_pairs
from core.storage.models import Conversation
from mail.parsing import ParsedMail, parse_message
from mail.robots import delivery_report, robot_reason
from tests.mail.conftest import SUBMIT, Intake, Received

DATA = Path(__file__).parent.parent / "data" / "mail"
OCEAN = "https://huggingface.co/datasets/example/ocean-temps"


def raw(name: str) -> bytes:
    return (DATA / name).read_bytes()


def parsed(name: str) -> ParsedMail:
    return parse_message(raw(name), own_address=SUBMIT)


def pairs(name: str) -> dict[str, str]:
    return dict(field_pairs(parsed(name).text))


# -- what is read out of each message ------------------------------------------------------

@pytest.mark.parametrize(("name", "expected"), [
    ("outlook_html_table.eml", {"name": "München Air Quality 2023",
                                "location": "https://data.example.com/muc-air",
                                "hosting": "We keep our own hosting", "modalities": "Text",
                                "domain": "Climate"}),
    ("outlook_web_html_br.eml", {"name": "Peña Río Corpus",
                                 "location": "https://data.example.es/pena-rio",
                                 "domain": "Culture – Spanish literature"}),
    ("answers_dash.eml", {"name": "Ocean Temperatures", "location": OCEAN, "hosting": "no",
                          "domain": "Marine"}),
    ("answers_numbered.eml", {"name": "Ocean Temperatures", "location": OCEAN,
                              "hosting": "no", "modalities": "text", "domain": "Marine"}),
    ("thunderbird_flowed_name.eml", {
        "name": "North Atlantic Moored Buoy Sea Surface Temperature Daily Averages 2020-2024",
        "location": OCEAN}),
    # Replies: only what is above (or below) the quoted thread, in any language.
    ("gmail_top_reply.eml", {"location": OCEAN, "hosting": "no, we keep our own",
                             "modalities": "text", "domain": "Marine"}),
    ("gmail_de_reply.eml", {"location": "https://daten.example.de/ozean", "domain": "Marine"}),
    ("apple_fr_bottom_reply.eml", {"location": OCEAN, "domain": "Marine"}),
    ("outlook_original_message_reply.eml", {"modalities": "text, tabular", "domain": "Marine"}),
    ("outlook_nl_reply.eml", {"location": "https://data.example.nl/zee",
                              "hosting": "eigen hosting"}),
    ("thunderbird_pt_flowed_reply.eml", {"location": "https://dados.example.br/oceano",
                                         "hosting": "não, hospedamos nós mesmos",
                                         "modalities": "text", "domain": "Marine"}),
    ("forwarded_inline_gmail.eml", {"name": "Ocean Temperatures", "location": OCEAN}),
])
def test_the_answers_are_read_whatever_the_client(name: str, expected: dict[str, str]) -> None:
    found = pairs(name)
    assert {key: found.get(key) for key in expected} == expected
    # Our own form, quoted back without ">" by Outlook, is never an answer: its empty
    # "Dataset card:" line would mean "the README at the location".
    assert "card" not in found and "email" not in found


@pytest.mark.parametrize("name", ["gmail_top_reply.eml", "outlook_nl_reply.eml",
                                  "outlook_original_message_reply.eml", "iphone_reply.eml",
                                  "thunderbird_pt_flowed_reply.eml", "apple_fr_bottom_reply.eml"])
def test_nothing_of_our_quoted_e_mail_is_read_again(name: str) -> None:
    text = parsed(name).text
    for ours in ("Got it", "Still needed", "Where can the dataset be found", "How to answer",
                 "wrote:", "escreveu", "Verzonden", "Sent from my iPhone", "Ana Souza"):
        assert ours not in text


def test_prose_beside_the_labels_is_kept() -> None:
    text = parsed("answers_with_prose.eml").text
    assert "We keep our own hosting, and the domain is Marine." in text
    assert dict(field_pairs(text)) == {"name": "Ocean Temperatures", "location": OCEAN}


@pytest.mark.parametrize(("name", "card_name"), [
    ("card_readme_upper_md.eml", "readme.MD"),
    ("card_markdown_ext.eml", "README.markdown"),
    ("card_txt.eml", "README.txt"),
    ("card_text_plain_no_name.eml", "card.txt"),
    ("card_octet_stream.eml", "README.md"),
    ("card_apple_inline.eml", "README.md"),
    ("card_rfc2231_name.eml", "Réadme océan.md"),
    ("card_rfc2047_name.eml", "README.md"),
    ("card_zipped.eml", "README.md"),
    ("card_two.eml", "README.md"),
    ("card_pasted_in_body.eml", "README.md"),
    ("outlook_winmail_dat.eml", "README.md"),
    ("forwarded_rfc822_card.eml", "README.md"),
    ("forwarded_inline_gmail.eml", "README.md"),
])
def test_the_card_is_found_in_every_wrapper(name: str, card_name: str) -> None:
    mail = parsed(name)
    assert mail.card is not None and mail.card.filename == card_name
    data = mail.card.data.replace(b"\r\n", b"\n")  # quoted-printable text keeps CRLF
    assert data.startswith(b"---\nlicense: cdla-permissive-2.0")
    assert b"# Dataset Card Contact" in data
    assert mail.ignored == (("README-old.md",) if name == "card_two.eml" else ())


def test_a_pasted_card_leaves_the_words_above_it() -> None:
    mail = parsed("card_pasted_in_body.eml")
    assert mail.text == "Hi, I could not attach files from here, so the card is below."


def test_a_pdf_is_no_card_and_is_named_back() -> None:
    mail = parsed("card_pdf.eml")
    assert mail.card is None and mail.ignored == ("Dataset Card.pdf",)


@pytest.mark.parametrize(("name", "envelope", "reason"), [
    ("ooo_exchange.eml", "ooo@corp.example", "auto-submitted"),
    ("ooo_no_headers.eml", "vacation@oldcorp.example", "robot-subject"),
    ("bounce_plain.eml", "MAILER-DAEMON@relay.example.net", "robot-subject"),
])
def test_robots_are_recognised(name: str, envelope: str, reason: str) -> None:
    assert robot_reason(parsed(name), envelope) == reason


def test_a_dsn_is_read_as_a_bounce() -> None:
    bounce = delivery_report(parsed("bounce_dsn.eml"))
    assert bounce is not None and bounce.recipients == ("gone@example.org",)
    assert bounce.status == "5.1.1"


@pytest.mark.parametrize("name", ["empty.eml", "signature_only.eml"])
def test_nothing_written_is_empty_text(name: str) -> None:
    assert parsed(name).text == ""


# -- over SMTP: the answer each sender gets -----------------------------------------------

def sender_of(data: bytes) -> str:
    mail = parse_message(data)
    return mail.from_address


def answering(data: bytes, previous: Received) -> bytes:
    """A reply's placeholders filled from the message it answers."""
    for key, value in (("reply_to", previous["Reply-To"]), ("in_reply_to", previous["Message-ID"]),
                       ("subject", previous["Subject"])):
        data = data.replace(b"{" + key.encode() + b"}", value.encode())
    return data


async def answers_of(intake: Intake, contributor: str) -> dict:
    async with intake.db.transaction() as session:
        state = await session.scalar(select(Conversation.state).where(
            Conversation.channel == "mail", Conversation.contributor_id == contributor))
    return dict((state or {}).get("answers", {}))


async def send_file(intake: Intake, name: str, previous: Received | None = None,
                    envelope: str | None = None) -> str:
    data = raw(name) if previous is None else answering(raw(name), previous)
    sender = sender_of(data) if envelope is None else envelope
    to = [previous["Reply-To"]] if previous is not None else [SUBMIT]
    assert await intake.send(data, mail_from=sender, to=to) == {}
    return parse_message(data).from_address


REPLIES = ["gmail_top", "gmail_de", "apple_fr", "iphone", "outlook_plain", "outlook_nl",
           "thunderbird_pt"]
REPLY_FILES = {"gmail_top": "gmail_top_reply.eml", "gmail_de": "gmail_de_reply.eml",
               "apple_fr": "apple_fr_bottom_reply.eml", "iphone": "iphone_reply.eml",
               "outlook_plain": "outlook_original_message_reply.eml",
               "outlook_nl": "outlook_nl_reply.eml",
               "thunderbird_pt": "thunderbird_pt_flowed_reply.eml"}


async def test_replies_from_every_client_answer_without_rereading_our_mail(
        intake: Intake) -> None:
    for client in REPLIES:
        person = await send_file(intake, f"{client}_first.eml")
        [first] = await intake.sink.wait_for(person)
        await send_file(intake, REPLY_FILES[client], previous=first)
        second = (await intake.sink.wait_for(person, 2))[1]
        answers = await answers_of(intake, person)
        assert answers["name"] == "Ocean Temperatures", client
        assert "card" not in answers and not second.body.count("stored the dataset card")
        assert "location" in answers or client == "outlook_plain", client
        if client not in ("iphone", "outlook_nl"):
            assert answers["domain"] is not None, client


async def test_first_messages_of_every_kind_get_a_right_answer(intake: Intake) -> None:
    expected = {
        "outlook_html_table.eml": "Dataset name: München Air Quality 2023",
        "answers_dash.eml": "Domain: Marine",
        "answers_numbered.eml": "Modalities: Text Only",
        "answers_with_prose.eml": "I understood: hosting No, I keep my own hosting, "
                                  "domain Marine. Right?",
        "card_zipped.eml": 'stored the dataset card "README.md"',
        "outlook_winmail_dat.eml": 'stored the dataset card "README.md"',
        "forwarded_rfc822_card.eml": 'stored the dataset card "README.md"',
        "card_pasted_in_body.eml": 'stored the dataset card "README.md"',
        "forwarded_inline_gmail.eml": f"Dataset location: {OCEAN}",
    }
    for name, words in expected.items():
        person = await send_file(intake, name)
        [answer] = await intake.sink.wait_for(person)
        assert words in answer.body, (name, answer.body)
        assert "I did not use this attachment" not in answer.body, name
    pasted = await answers_of(intake, "paste@example.org")
    assert "email" not in pasted or pasted["email"] == "paste@example.org"


async def test_robots_get_no_answer(intake: Intake) -> None:
    await send_file(intake, "ooo_exchange.eml")
    await send_file(intake, "ooo_no_headers.eml")
    await send_file(intake, "bounce_plain.eml")
    await send_file(intake, "bounce_dsn.eml", envelope="")
    await intake.settle()
    assert intake.sink.messages == []
    assert len(await intake.inbound()) == 4


async def test_one_thread_to_the_end_and_after(intake: Intake) -> None:
    person = await send_file(intake, "thread_1_everything.eml")
    replies = await intake.sink.wait_for(person)
    assert "Do you agree to these terms?" in replies[0].body
    for count, name in enumerate(("thread_3_yes.eml", "thread_4_yes.eml"), start=2):
        await send_file(intake, name, previous=replies[-1])
        replies = await intake.sink.wait_for(person, count)
    assert "is submitted as OTDI-0001" in replies[-1].body
    await send_file(intake, "thread_5_after_done.eml", previous=replies[-1])
    [*_, after] = await intake.sink.wait_for(person, 4)
    assert "passed your message on to the reviewers of OTDI-0001" in after.body
