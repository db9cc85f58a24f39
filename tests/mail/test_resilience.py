"""Losing nothing: crashes, our own bugs, bounces, a relay that refuses, a chatty robot."""

from __future__ import annotations

import smtplib
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import pytest
from sqlalchemy import select, update

import mail.inbox
import mail.store
from core.conversation import Inbound
from core.service import ConversationKey
from core.storage.database import Database
from core.storage.models import AuditEntry, Conversation, OutboxMessage, Submission
from mail.models import InboundMail, OutboundMail
from mail.options import MailOptions
from tests.mail.conftest import (
    CARD,
    SUBMIT,
    Intake,
    Sink,
    eventually,
    letter,
    reply_to,
    start_intake,
    stop_intake,
)
from tests.mail.test_inbox import EVERY_FIELD


async def _actions(db: Database, action: str) -> list[AuditEntry]:
    async with db.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == action))).all())


async def test_a_message_accepted_before_a_crash_is_processed_after_restart(
        db: Database, sink: Sink) -> None:
    raw = letter("name: Ocean Temperatures").as_bytes(policy=SMTP_POLICY)
    # Accepted (stored, 250 sent), then the process died before looking at it ...
    await mail.store.save_inbound(db, raw, "ada@example.org", [SUBMIT])
    # ... and another one died in the middle of its turn.
    second = letter("name: Reef Survey", sender="grace@example.org")
    row_id = await mail.store.save_inbound(
        db, second.as_bytes(policy=SMTP_POLICY), "grace@example.org", [SUBMIT])
    async with db.transaction() as session:
        await session.execute(update(InboundMail).where(InboundMail.id == row_id)
                              .values(status="processing", attempts=1))
    intake = await start_intake(db, sink)
    try:
        [ada] = await sink.wait_for("ada@example.org")
        [grace] = await sink.wait_for("grace@example.org")
        assert "Dataset name: Ocean Temperatures" in ada.body
        assert "Dataset name: Reef Survey" in grace.body
        await intake.settle()
        assert {row.status for row in await intake.inbound()} == {"processed"}
    finally:
        await stop_intake(intake)


async def test_a_turn_committed_just_before_a_crash_is_not_repeated(
        db: Database, sink: Sink) -> None:
    message = letter("name: Ocean Temperatures")
    row_id = await mail.store.save_inbound(
        db, message.as_bytes(policy=SMTP_POLICY), "ada@example.org", [SUBMIT])
    intake = await start_intake(db, sink, worker=False)
    await intake.adapter.stop()  # the inbox is gone; we play its interrupted turn by hand
    async with db.transaction() as session:
        await session.execute(update(InboundMail).where(InboundMail.id == row_id).values(
            status="processing", attempts=1, contributor_id="ada@example.org"))
    await intake.runtime.service.handle(
        ConversationKey("mail", "ada@example.org"),
        Inbound("text", text="name: Ocean Temperatures", sender_email="ada@example.org"),
        source="mail", external_id=str(message["Message-ID"]))
    restarted = await start_intake(db, sink)
    try:
        await restarted.settle()
        [reply] = sink.to("ada@example.org")
        assert reply["In-Reply-To"] == str(message["Message-ID"])  # still threaded
        [row] = await restarted.inbound()
        assert row.status == "duplicate"
    finally:
        await stop_intake(restarted)


async def test_a_storage_failure_answers_451_and_no_traceback(
        intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(mail.store, "save_inbound", broken)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await intake.send(letter("name: Ocean"))
    assert refused.value.smtp_code == 451
    assert b"fire" not in refused.value.smtp_error
    assert b"RuntimeError" not in refused.value.smtp_error
    monkeypatch.undo()
    assert await intake.send(letter("name: Ocean")) == {}  # the client's retry succeeds


async def test_a_bug_while_processing_keeps_the_message_for_a_retry(
        db: Database, sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("parser bug")

    monkeypatch.setattr(mail.inbox, "parse_message", broken)
    intake = await start_intake(db, sink)
    try:
        message = letter(EVERY_FIELD + "\nconsent: yes",
                         attachments=[("README.md", CARD, "text/markdown")])
        assert await intake.send(message) == {}  # stored, so acknowledged
        await intake.settle()
        [row] = await intake.inbound()
        assert row.status == "failed" and "parser bug" in (row.error or "")
        assert sink.messages == []
        async with db.transaction() as session:
            assert (await session.scalars(select(Conversation))).all() == []
            assert (await session.scalars(select(Submission))).all() == []
    finally:
        await stop_intake(intake)
    monkeypatch.undo()  # the bug is fixed and the inbox restarted: the message is retried
    restarted = await start_intake(db, sink)
    try:
        [reply] = await sink.wait_for("ada@example.org")
        assert "Here is your contribution" in reply.body
        [row] = await restarted.inbound()
        assert (row.status, row.attempts) == ("processed", 2)
    finally:
        await stop_intake(restarted)


def _bounce(original_message_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
        f"To: {SUBMIT}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.org>\r\nAuto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: OTDI Intake <{SUBMIT}>\r\nTo: {recipient}\r\n"
        f"Message-ID: {original_message_id}\r\nSubject: [OTDI-0001] Re: A dataset\r\n"
        "--B--\r\n").encode()


async def test_a_bounce_of_our_reply_is_recorded_on_the_submission(intake: Intake) -> None:
    await intake.send(letter(EVERY_FIELD, attachments=[("README.md", CARD, "text/markdown")]))
    [summary] = await intake.sink.wait_for("ada@example.org")
    await intake.send(reply_to(summary, "yes"))
    [_, submitted] = await intake.sink.wait_for("ada@example.org", 2)
    assert await intake.send(_bounce(submitted["Message-ID"], "ada@example.org"),
                             mail_from="<>") == {}
    await intake.settle()
    [entry] = await _actions(intake.db, "mail.bounced")
    async with intake.db.transaction() as session:
        submission = await session.scalar(select(Submission))
        bounced = await session.scalar(select(OutboundMail).where(
            OutboundMail.message_id == submitted["Message-ID"]))
    assert submission is not None and entry.submission_id == submission.id
    assert entry.detail["status"] == "5.1.1" and entry.detail["recipients"] == [
        "ada@example.org"]
    assert bounced is not None and bounced.status == "bounced"
    assert len(intake.sink.to("ada@example.org")) == 2  # nobody answers a bounce


async def test_at_most_a_few_replies_per_sender_per_hour(db: Database, sink: Sink) -> None:
    options = MailOptions(_env_file=None, replies_per_hour=2, poll_seconds=0.5)
    intake = await start_intake(db, sink, options=options)
    try:
        for text in ("name: Ocean", "url: https://example.org/ocean", "hosting: yes"):
            await intake.send(letter(text, sender="robot@example.com"))
            await intake.settle()
        assert len(sink.to("robot@example.com")) == 2
        [entry] = await _actions(db, "mail.reply_suppressed")
        assert entry.detail["recipient"] == "robot@example.com"
        async with db.transaction() as session:
            state = await session.scalar(select(Conversation.state))
        assert state is not None and state["answers"]["hosting"] == "alliance"  # kept
        # Someone else is not affected.
        await intake.send(letter("name: Reef"))
        await sink.wait_for("ada@example.org")
    finally:
        await stop_intake(intake)


async def test_a_recipient_the_relay_refuses_is_given_up_visibly(intake: Intake) -> None:
    intake.sink.refuse.add("ghost@example.org")
    await intake.send(letter("name: Ocean", sender="ghost@example.org"))

    async def dead() -> bool:
        async with intake.db.transaction() as session:
            status = await session.scalar(select(OutboxMessage.status).where(
                OutboxMessage.recipient == "ghost@example.org"))
        return status == "dead"

    await eventually(dead)
    assert intake.sink.messages == []


async def test_a_relay_that_is_down_delays_the_reply(db: Database, sink: Sink) -> None:
    assert sink.server is not None
    intake = await start_intake(db, sink, INTAKE_RELAY_PORT=1)  # nothing listens there
    try:
        await intake.send(letter("name: Ocean"))

        async def retried() -> bool:
            async with db.transaction() as session:
                row = await session.scalar(select(OutboxMessage))
            return row is not None and row.status == "pending" and row.last_error is not None

        await eventually(retried)
        assert sink.messages == []
    finally:
        await stop_intake(intake)
