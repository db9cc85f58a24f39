"""Losing nothing: crashes, our own bugs, bounces, a relay that refuses, a chatty robot."""

from __future__ import annotations

import asyncio
import smtplib
from datetime import timedelta
from email.policy import SMTP as SMTP_POLICY
from typing import Any

import pytest
from sqlalchemy import select, update

import mail.handler
from core.inbound import InboundLog
from core.storage.database import Database
from core.storage.models import (
    AuditEntry,
    Conversation,
    LoggedEvent,
    OutboxMessage,
    Submission,
    utcnow,
)
from mail.models import OutboundMail
from mail.options import MailOptions
from mail.server import logged_mail
from tests.mail.conftest import (
    CARD,
    EVERY_FIELD,
    SUBMIT,
    Intake,
    Sink,
    eventually,
    letter,
    reply_to,
    start_intake,
    stop_intake,
)


async def _actions(db: Database, action: str) -> list[AuditEntry]:
    async with db.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == action))).all())


async def test_a_message_accepted_before_a_crash_is_processed_after_restart(
        db: Database, sink: Sink) -> None:
    # Accepted (logged, 250 sent), then the process died before looking at it ...
    dying = await start_intake(db, sink, process=False, worker=False)
    try:
        assert await dying.send(letter("name: Ocean Temperatures")) == {}
    finally:
        await stop_intake(dying)
    # ... and another one died in the middle of its turn (its lease ran out, rolled back).
    second = letter("name: Reef Survey", sender="grace@example.org")
    raw = second.as_bytes(policy=SMTP_POLICY)
    appended = await InboundLog(db).append(logged_mail(raw, "grace@example.org", [SUBMIT]))
    async with db.transaction() as session:
        await session.execute(update(LoggedEvent).where(LoggedEvent.id == appended.id)
                              .values(attempts=1, lease_owner="dead",
                                      lease_until=utcnow() - timedelta(seconds=1)))
    assert sink.messages == []
    intake = await start_intake(db, sink)
    try:
        [ada] = await sink.wait_for("ada@example.org")
        [grace] = await sink.wait_for("grace@example.org")
        assert "Dataset name: Ocean Temperatures" in ada.body
        assert "Dataset name: Reef Survey" in grace.body
        await intake.settle()
        assert [(row.status, row.outcome) for row in await intake.inbound()] == [
            ("done", "conversation")] * 2
    finally:
        await stop_intake(intake)


async def test_acknowledged_then_stopped_is_answered_exactly_once_after_restart(
        db: Database, sink: Sink) -> None:
    dying = await start_intake(db, sink, process=False, worker=False)
    message = letter("name: Ocean Temperatures")
    try:
        assert await dying.send(message) == {}  # 250: it is ours now
        [row] = await dying.inbound()
        assert row.status == "pending"
    finally:
        await stop_intake(dying)
    restarted = await start_intake(db, sink)
    try:
        [reply] = await sink.wait_for("ada@example.org")
        assert reply["In-Reply-To"] == str(message["Message-ID"])
        assert await restarted.send(message) == {}  # the client retries: a duplicate
        await restarted.settle()
    finally:
        await stop_intake(restarted)
    again = await start_intake(db, sink)  # and a third start finds nothing to do
    try:
        await again.runtime.events.run_once()
        await again.settle()
        assert len(sink.to("ada@example.org")) == 1
        [row] = await again.inbound()
        assert (row.status, row.outcome, row.attempts) == ("done", "conversation", 1)
        async with db.transaction() as session:
            named = (await session.scalars(select(AuditEntry).where(
                AuditEntry.action == "field.set"))).all()
        assert [e.detail.get("field") for e in named].count("name") == 1  # one turn
    finally:
        await stop_intake(again)


async def test_past_the_session_limit_a_client_hears_421(db: Database, sink: Sink) -> None:
    options = MailOptions(_env_file=None, max_sessions=2)
    intake = await start_intake(db, sink, options=options)
    held: list[smtplib.SMTP] = []
    try:
        for _ in range(2):
            client = smtplib.SMTP(timeout=10)
            await asyncio.to_thread(client.connect, "127.0.0.1", intake.port)
            held.append(client)
        extra = smtplib.SMTP(timeout=10)
        code, text = await asyncio.to_thread(extra.connect, "127.0.0.1", intake.port)
        extra.close()
        assert code == 421 and b"try again" in text
        await asyncio.to_thread(held.pop().quit)  # one session ends: new ones are served

        async def served() -> bool:
            assert intake.adapter.sessions is not None
            return intake.adapter.sessions.open < 2

        await eventually(served)
        assert await intake.send(letter("name: Ocean")) == {}
        await sink.wait_for("ada@example.org")
    finally:
        for client in held:
            client.close()
        await stop_intake(intake)


async def test_a_storage_failure_answers_451_and_no_traceback(
        intake: Intake, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*_args: Any) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(intake.runtime.inbound, "append", broken)
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

    monkeypatch.setattr(mail.handler, "parse_message", broken)
    intake = await start_intake(db, sink, INTAKE_LEASE_SECONDS=2)
    try:
        message = letter(EVERY_FIELD + "\nconsent: yes",
                         attachments=[("README.md", CARD, "text/markdown")])
        assert await intake.send(message) == {}  # stored, so acknowledged
        await intake.settle()
        async def failed_once() -> bool:
            rows = await intake.inbound()
            return bool(rows) and rows[0].attempts >= 1

        await eventually(failed_once)
        [row] = await intake.inbound()
        assert row.status == "pending"  # kept for another attempt, nothing half-done
        assert "parser bug" in (row.error or "")  # and why it failed, for the operator
        assert sink.messages == []
        async with db.transaction() as session:
            assert (await session.scalars(select(Conversation))).all() == []
            assert (await session.scalars(select(Submission))).all() == []
    finally:
        await stop_intake(intake)
    [row] = await intake.inbound()
    failed = row.attempts  # one or more: the first process may have retried before it stopped
    assert failed >= 1 and row.status == "pending"
    monkeypatch.undo()  # the bug is fixed and the inbox restarted: the message is retried
    restarted = await start_intake(db, sink, INTAKE_LEASE_SECONDS=2)
    try:
        [reply] = await sink.wait_for("ada@example.org")
        assert "Here is your contribution" in reply.body
        await restarted.settle()
        [row] = await restarted.inbound()
        assert (row.status, row.outcome, row.attempts) == ("done", "conversation", failed + 1)
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


async def test_a_robot_repeating_itself_gets_only_a_few_identical_replies(
        db: Database, sink: Sink) -> None:
    options = MailOptions(_env_file=None, replies_per_hour=2)
    intake = await start_intake(db, sink, options=options)
    robot = "robot@example.com"
    try:
        for _ in range(6):  # the same words again and again: no progress
            await intake.send(letter("Thank you for your message.", sender=robot))
            await intake.settle()
        replies = sink.to(robot)
        # A welcome, a first correction, then the same correction twice; then it holds.
        assert len(replies) == 4
        assert replies[2].body == replies[3].body
        suppressed = await _actions(db, "mail.reply_suppressed")
        assert len(suppressed) == 2 and suppressed[0].detail["recipient"] == robot
        async with db.transaction() as session:
            statuses = (await session.scalars(select(OutboxMessage.status).where(
                OutboxMessage.recipient == robot).order_by(OutboxMessage.id))).all()
        assert list(statuses) == ["sent"] * 4 + ["suppressed"] * 2  # never shown as sent
        # A message that makes progress is always answered, even right after.
        for text in ("name: Ocean", "url: https://example.org/ocean", "hosting: yes"):
            await intake.send(letter(text, sender=robot))
            await intake.settle()
        assert len(sink.to(robot)) == 7
        async with db.transaction() as session:
            state = await session.scalar(select(Conversation.state))
        assert state is not None and state["answers"]["hosting"] == "alliance"
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
