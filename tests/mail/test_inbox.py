"""The inbox end to end: real SMTP in, real SMTP out, the conversation in between."""

from __future__ import annotations

import asyncio
import smtplib
from email.policy import SMTP as SMTP_POLICY

import pytest
from sqlalchemy import select

from core.storage.models import AuditEntry, CardVersion, Conversation, Submission
from mail.models import MailThread
from tests.mail.conftest import CARD, EVERY_FIELD, SUBMIT, Intake, letter, reply_to

SITE_MAILTO = (
    f"From: Ada Lovelace <ada@example.org>\r\nTo: {SUBMIT}\r\n"
    "Subject: I want to contribute an OTDI dataset\r\n"
    "Message-ID: <site-1@example.org>\r\nMIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    "dataset-name: Ocean Temperatures\r\n"
    "dataset-url: https://huggingface.co/datasets/example/ocean-temps\r\n"
    "dataset-card: \r\n").encode()


async def state_of(intake: Intake, contributor: str) -> dict:
    async with intake.db.transaction() as session:
        state = await session.scalar(select(Conversation.state).where(
            Conversation.channel == "mail", Conversation.contributor_id == contributor))
    return dict(state or {})


async def audit(intake: Intake, action: str) -> list[AuditEntry]:
    async with intake.db.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == action).order_by(AuditEntry.id))).all())


async def submissions(intake: Intake) -> list[Submission]:
    async with intake.db.transaction() as session:
        return list((await session.scalars(select(Submission))).all())


async def test_the_site_mailto_then_replies_complete_a_submission(intake: Intake) -> None:
    assert await intake.send(SITE_MAILTO, mail_from="ada@example.org") == {}
    [first] = await intake.sink.wait_for("ada@example.org")
    # The reference from the first reply on (subject, and the same Reply-To to the end).
    assert first["Subject"] == "[OTDI-0001] Re: I want to contribute an OTDI dataset"
    assert first["In-Reply-To"] == "<site-1@example.org>"
    assert first["Auto-Submitted"] == "auto-replied"
    token = first["Reply-To"].split("+", 1)[1].split("@", 1)[0]
    assert len(token) == 32 and first["Reply-To"].endswith("@otdi.test")
    for understood in ("Dataset name: Ocean Temperatures",
                       "https://huggingface.co/datasets/example/ocean-temps",
                       "Contact e-mail: ada@example.org",  # from the From address
                       'stored the dataset card "README.md"'):  # the README at the location
        assert understood in first.body
    assert "host the dataset" in first.body  # the next question, and how to answer it
    assert "Modalities:" in first.body and "How to answer" in first.body

    answer = reply_to(first, "Hosting: no\nModalities: text, images\nDomain: marine")
    await intake.send(answer)
    second = (await intake.sink.wait_for("ada@example.org", 2))[1]
    assert second["In-Reply-To"] == str(answer["Message-ID"])
    assert first["Message-ID"] in second["References"]
    assert "Modalities: Text Only, Images" in second.body
    assert "CDLA-Permissive-2.0" in second.body  # the terms, before consent is asked

    await intake.send(reply_to(second, "Yes, I agree"))
    third = (await intake.sink.wait_for("ada@example.org", 3))[2]
    assert "Here is your contribution" in third.body
    assert "Contact e-mail: ada@example.org" in third.body  # confirmed in the summary

    await intake.send(reply_to(third, "yes"))
    fourth = (await intake.sink.wait_for("ada@example.org", 4))[3]
    assert fourth["Subject"] == first["Subject"]
    assert "OTDI-0001" in fourth.body
    [submission] = await submissions(intake)
    assert (submission.name, submission.email, submission.hosting) == (
        "Ocean Temperatures", "ada@example.org", "self")
    assert fourth["Reply-To"] == first["Reply-To"] == f"data+{token}@otdi.test"
    async with intake.db.transaction() as session:
        card = await session.get(CardVersion, submission.card_version_id)
    assert card is not None and card.content == CARD


async def test_one_message_with_every_field_and_the_card(intake: Intake) -> None:
    message = letter(EVERY_FIELD, attachments=[("README.md", CARD, "text/markdown"),
                                               ("photo.jpg", b"\xff\xd8\xff", "image/jpeg")])
    await intake.send(message)
    [reply] = await intake.sink.wait_for("ada@example.org")
    body = reply.body
    assert "Here is your contribution" in body
    for line in ("Dataset name: Ocean Temperatures", "Hosting: No, I keep my own hosting",
                 "Modalities: Text Only", "Domain: Marine", "Dataset card: README.md",
                 "Contact e-mail: ada@example.org"):
        assert line in body
    assert "photo.jpg" in body  # named back as not used
    assert "Best regards" not in body and "Still needed" not in body
    await intake.send(reply_to(reply, "Yes, submit."))
    [_, done] = await intake.sink.wait_for("ada@example.org", 2)
    assert "OTDI-0001" in done["Subject"]
    assert len(await submissions(intake)) == 1


async def test_html_only_from_a_client_that_declares_the_wrong_charset(intake: Intake) -> None:
    html = ("<html><head><meta charset='utf-8'><style>p {color: red}</style></head><body>"
            "<p>Bonjour,</p><p>Dataset name: Océan Températures Côtières</p>"
            "<div>Dataset location: https://example.org/océan</div>"
            "<blockquote>Hosting: yes<br>quoted from an earlier message</blockquote>"
            "</body></html>")
    raw = (f"From: =?utf-8?q?Ren=C3=A9e?= <renee@example.fr>\r\nTo: {SUBMIT}\r\n"
           "Subject: =?iso-8859-1?q?Donn=E9es?=\r\nMessage-ID: <html-1@example.fr>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: text/html; charset=iso-8859-1\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + html.encode("utf-8") + b"\r\n"
    await intake.send(raw, mail_from="renee@example.fr")
    [reply] = await intake.sink.wait_for("renee@example.fr")
    assert "Dataset name: Océan Températures Côtières" in reply.body
    assert reply["Subject"] == "[OTDI-0001] Re: Données"
    state = await state_of(intake, "renee@example.fr")
    assert "hosting" not in state["answers"]  # the quoted part was not read
    assert state["answers"]["name"] == "Océan Températures Côtières"


async def test_a_reply_from_a_phone_with_the_whole_thread_quoted(intake: Intake) -> None:
    await intake.send(letter("name: Ocean Temperatures\nurl: https://example.org/ocean"))
    [first] = await intake.sink.wait_for("ada@example.org")
    # The quoted thread contains our own "Hosting:" line and a question; only "no" is new.
    await intake.send(reply_to(first, "no\n\nSent from my iPhone"))
    second = (await intake.sink.wait_for("ada@example.org", 2))[1]
    assert "Hosting: No, I keep my own hosting" in second.body
    state = await state_of(intake, "ada@example.org")
    assert state["answers"]["hosting"] == "self"
    assert state["answers"]["name"] == "Ocean Temperatures"


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied (vacation)", "Subject": "Out of office"},
    {"Precedence": "bulk"},
    {"List_Id": "<datasets.lists.example.org>"},
    {"X_Auto_Response_Suppress": "All"},
], ids=["out-of-office", "precedence", "list", "suppress"])
async def test_no_answer_to_a_robot(intake: Intake, headers: dict[str, str]) -> None:
    await intake.send(letter("name: Ocean"))
    [first] = await intake.sink.wait_for("ada@example.org")
    subject = headers.pop("Subject", None)
    robot = reply_to(first, "I am out of the office until Monday.", quote=False, **headers)
    if subject:
        robot.replace_header("Subject", subject)
    await intake.send(robot)
    await intake.settle()
    assert len(intake.sink.to("ada@example.org")) == 1  # no answer
    rows = await intake.inbound()
    assert rows[-1].status == "done" and rows[-1].outcome.startswith("robot:")
    assert (await state_of(intake, "ada@example.org"))["answers"]["name"] == "Ocean"
    assert len(await audit(intake, "mail.automated_ignored")) == 1


@pytest.mark.parametrize("sender", ["mailer-daemon@example.org", "no-reply@example.org",
                                    "postmaster@example.org"])
async def test_no_answer_to_robot_senders(intake: Intake, sender: str) -> None:
    await intake.send(letter("name: Ocean", sender=sender))
    await intake.settle()
    assert intake.sink.messages == []
    [row] = await intake.inbound()
    assert row.status == "done" and row.outcome.startswith("robot:")


async def test_an_oversized_message_is_refused_and_nothing_is_stored(intake: Intake) -> None:
    big = letter("name: Ocean", attachments=[("data.bin", b"x" * 400_000,
                                              "application/octet-stream")])
    with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # SIZE= announced
        await intake.send(big)
    assert declared.value.smtp_code == 552

    def without_size() -> None:  # a client that does not announce the size
        with smtplib.SMTP("127.0.0.1", intake.port, local_hostname="client.test") as client:
            client.ehlo()
            client.esmtp_features.pop("size", None)
            client.sendmail("ada@example.org", [SUBMIT], big.as_bytes(policy=SMTP_POLICY))

    with pytest.raises(smtplib.SMTPDataError) as undeclared:
        await asyncio.to_thread(without_size)
    assert undeclared.value.smtp_code == 552
    assert await intake.inbound() == []
    assert await intake.send(letter("name: Ocean")) == {}  # still serving


async def test_other_recipients_are_refused(intake: Intake) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await intake.send(letter("hello", to="someone@otdi.test"))
    [(code, text)] = refused.value.recipients.values()
    assert code == 550 and SUBMIT.encode() in text  # where to write instead
    assert await intake.send(letter("hi", to="DATA+Anything@OTDI.test")) == {}


async def test_a_stranger_cannot_change_someone_elses_submission(intake: Intake) -> None:
    await intake.send(letter("name: Ocean Temperatures"))
    [first] = await intake.sink.wait_for("ada@example.org")
    before = await state_of(intake, "ada@example.org")
    await intake.send(reply_to(first, "name: Mallory's Data", sender="mallory@example.net"))
    [notice] = await intake.sink.wait_for("mallory@example.net")
    assert "belongs to another contributor" in notice.body
    assert notice["Reply-To"] == SUBMIT  # a reply starts their own conversation
    assert notice["In-Reply-To"] is not None
    assert await state_of(intake, "ada@example.org") == before
    assert len(intake.sink.to("ada@example.org")) == 1
    [entry] = await audit(intake, "mail.stranger_refused")
    assert entry.actor == "mallory@example.net"
    # Threading alone (no token, e.g. a reply to a forwarded copy) is matched the same way.
    forwarded = reply_to(first, "domain: marine", sender="eve@example.net", quote=False)
    forwarded.replace_header("To", SUBMIT)
    await intake.send(forwarded)
    await intake.sink.wait_for("eve@example.net")
    assert await state_of(intake, "ada@example.org") == before


async def test_the_same_message_delivered_twice_is_processed_once(intake: Intake) -> None:
    message = letter("name: Ocean Temperatures")
    message.replace_header("Message-ID", "<twice@example.org>")
    await intake.send(message)
    await intake.send(message)
    await intake.settle()
    assert len(intake.sink.to("ada@example.org")) == 1
    [row] = await intake.inbound()  # the second delivery was a duplicate in the log
    assert (row.status, row.outcome, row.idempotency_key) == (
        "done", "conversation", "<twice@example.org>")


async def test_international_addresses_over_smtputf8(intake: Intake) -> None:
    message = letter("name: Données Océan", sender="josé@exämple.org")
    assert await intake.send(message) == {}
    [reply] = await intake.sink.wait_for("josé@exämple.org")
    assert "Dataset name: Données Océan" in reply.body
    assert "Contact e-mail: josé@exämple.org" in reply.body


async def test_a_reply_is_matched_by_its_token_alone(intake: Intake) -> None:
    await intake.send(letter("name: Ocean"))
    [first] = await intake.sink.wait_for("ada@example.org")
    bare = letter("url: https://example.org/ocean", subject="no thread headers",
                  to=first["Reply-To"])
    await intake.send(bare)
    await intake.sink.wait_for("ada@example.org", 2)
    assert (await state_of(intake, "ada@example.org"))["answers"]["location"] == \
        "https://example.org/ocean"
    async with intake.db.transaction() as session:
        [thread] = (await session.scalars(select(MailThread))).all()
    assert first["Reply-To"] == f"data+{thread.token}@otdi.test"


async def test_a_message_of_our_own_continues_the_thread(intake: Intake) -> None:
    """A reviewer's decision is not an answer to mail: threaded to our last e-mail, never
    held back by the hourly limit."""
    from core.outbox import enqueue

    await intake.send(letter(EVERY_FIELD, attachments=[("README.md", CARD, "text/markdown")]))
    [summary] = await intake.sink.wait_for("ada@example.org")
    await intake.send(reply_to(summary, "yes"))
    [_, submitted] = await intake.sink.wait_for("ada@example.org", 2)
    [submission] = await submissions(intake)
    async with intake.db.transaction() as session:
        enqueue(session, "mail", "ada@example.org",
                {"parts": [{"template": "cancelled", "context": {}}], "choices": None,
                 "reference": submission.reference}, submission_id=submission.id)
    intake.runtime.service.on_enqueued()
    [*_, ours] = await intake.sink.wait_for("ada@example.org", 3)
    assert ours["In-Reply-To"] == submitted["Message-ID"]
    assert ours["Subject"] == "[OTDI-0001] Re: A dataset"
    assert ours["Reply-To"] == submitted["Reply-To"] == summary["Reply-To"]  # one thread
