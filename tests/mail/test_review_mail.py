"""Reviewing by e-mail, end to end: the review thread is an e-mail thread to the reviewers.

Contributor and reviewers write over real SMTP to the inbox; everything they get is read
from the SMTP sink, as their mail servers would receive it.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.reports import submission_details
from core.runtime import build_runtime
from core.service import REVIEW_CHANNEL
from core.storage.database import Database
from core.storage.models import AuditEntry, Submission
from mail.adapter import MailAdapter
from mail.review import read_decision, review_by_mail, reviewers_of
from tests.mail.conftest import (
    CARD,
    EVERY_FIELD,
    SUBMIT,
    Intake,
    Received,
    Sink,
    letter,
    make_settings,
    reply_to,
    start_intake,
    stop_intake,
)

ADA = "ada@example.org"
RITA = "rita@alliance.test"
OTTO = "Otto@Alliance.test"  # listed with capitals; he writes from otto@alliance.test
ALLIANCE_HOSTING = EVERY_FIELD.replace("Hosting: no, we keep our own", "Hosting: yes")
FIXED_CARD = CARD.replace(  # still passes, with a suggestion the first card did not get
    b"license: cdla-permissive-2.0\nlicense_name: Community Data License Agreement "
    b"Permissive 2.0", b"license: mit\nlicense_name: MIT License")


@pytest.fixture
async def reviewing(db: Database, sink: Sink) -> AsyncIterator[Intake]:
    """The inbox without Slack, with two reviewers reached by e-mail."""
    running = await start_intake(db, sink, INTAKE_REVIEW_EMAILS=f"{RITA}, {OTTO}")
    try:
        yield running
    finally:
        await stop_intake(running)


async def submit(intake: Intake, fields: str = ALLIANCE_HOSTING) -> Received:
    """One message with every field and the card, then "yes": the submitted e-mail."""
    await intake.send(letter(fields, attachments=[("README.md", CARD, "text/markdown")]))
    [summary] = await intake.sink.wait_for(ADA)
    await intake.send(reply_to(summary, "yes"))
    return (await intake.sink.wait_for(ADA, 2))[1]


async def submission(intake: Intake) -> Submission:
    async with intake.db.transaction() as session:
        return (await session.scalars(select(Submission))).one()


async def actions(intake: Intake, prefix: str = "") -> list[str]:
    async with intake.db.transaction() as session:
        rows = await session.scalars(select(AuditEntry.action).where(
            AuditEntry.action.startswith(prefix)).order_by(AuditEntry.id))
        return list(rows.all())


def token_of(received: Received) -> str:
    return received["Reply-To"].split("+", 1)[1].split("@", 1)[0]


def text(received: Received) -> str:
    """The body with the line endings it had before it travelled (CRLF on the wire)."""
    return received.body.replace("\r\n", "\n")


def attached(received: Received) -> list[tuple[str, bytes]]:
    return [(str(part.get_filename()), part.get_payload(decode=True))
            for part in received.message.iter_attachments()]


async def test_ask_answer_approve_in_one_thread(reviewing: Intake) -> None:
    submitted = await submit(reviewing)

    [review] = await reviewing.sink.wait_for(RITA)
    assert set(review.rcpt_tos) == {RITA, OTTO}  # one e-mail to every reviewer
    assert review["Subject"] == "[OTDI-0001] Review: Ocean Temperatures"
    assert review["Auto-Submitted"] == "auto-generated"
    for shown in ("Hosting:     AI Alliance hosts it", "Contributor: ada@example.org",
                  "Dataset card check for README.md: PASSES",  # the full report
                  "Every required field is there", "  approve\n", "  ask: "):
        assert shown in text(review), shown
    assert attached(review) == [("README.md", CARD)]
    token = token_of(review)
    assert re.fullmatch(r"r[0-9a-f]{32}", token) and token != token_of(submitted)
    await reviewing.settle()  # the e-mail is out; the outbox records it right after
    record = await submission(reviewing)
    assert record.status == "in_review"
    assert record.extra["review_thread"]["mail_message_id"] == review["Message-ID"]

    await reviewing.send(reply_to(review, "ask: who collected the data?", sender=RITA))
    question = (await reviewing.sink.wait_for(ADA, 3))[2]
    assert question["Subject"] == "[OTDI-0001] Re: A dataset"  # the contributor's thread
    assert question["In-Reply-To"] == submitted["Message-ID"]
    assert question["Reply-To"] == submitted["Reply-To"]
    assert "who collected the data?" in text(question)
    asked = (await reviewing.sink.wait_for(RITA, 2))[1]
    assert "rita@alliance.test asked the contributor" in text(asked)
    assert asked["Subject"] == "Re: [OTDI-0001] Review: Ocean Temperatures"
    assert asked["In-Reply-To"] == review["Message-ID"]
    assert (await submission(reviewing)).status == "in_review"  # a question changes nothing

    answer = reply_to(question, "The Marine Data Lab collected it with 40 buoys.")
    await reviewing.send(answer)
    relayed = (await reviewing.sink.wait_for(RITA, 3))[2]
    assert "The Marine Data Lab collected it with 40 buoys." in text(relayed)
    assert "who collected" not in text(relayed)  # their quote of our question is dropped
    assert relayed["In-Reply-To"] == asked["Message-ID"]
    assert review["Message-ID"] in relayed["References"]
    assert OTTO in relayed.rcpt_tos and attached(relayed) == []

    await reviewing.send(reply_to(relayed, "Approve.\n\nThanks, Rita and Otto",
                                  sender="otto@alliance.test"))
    approval = (await reviewing.sink.wait_for(ADA, 5))[4]
    assert "is approved" in text(approval)
    assert "uploading the data to Alliance hosting" in text(approval)  # they chose it
    assert 'domain "Marine"' in text(approval) and "Text Only" in text(approval)
    assert 'Reply "confirmed"' in text(approval)
    relay_ack = (await reviewing.sink.wait_for(ADA, 4))[3]
    assert "passed your message on" in text(relay_ack)
    assert approval["In-Reply-To"] == relay_ack["Message-ID"]  # still their thread
    assert approval["Subject"] == "[OTDI-0001] Re: A dataset"
    approved = (await reviewing.sink.wait_for(RITA, 4))[3]
    assert "otto@alliance.test approved OTDI-0001" in text(approved)
    assert "Status: approved" in text(approved) and "How to answer" not in text(approved)
    await reviewing.settle()
    assert (await submission(reviewing)).status == "approved"

    # `intake submissions show` tells the whole story.
    details = await submission_details(reviewing.db, "OTDI-0001")
    assert details is not None
    shown = reviewing.runtime.renderer.render("cli/submission_show", details)
    for line in ("review.thread_opened", "submitted -> in_review", "review.ask",
                 "by rita@alliance.test (mail)", "contributor.message",
                 "review.approve", "in_review -> approved"):
        assert line in shown, line


async def test_changes_then_a_corrected_card(reviewing: Intake) -> None:
    await submit(reviewing, EVERY_FIELD)
    [review] = await reviewing.sink.wait_for(RITA)
    await reviewing.send(reply_to(
        review, "Changes: please describe how consent was documented.\nAnd who owns it.",
        sender=RITA))
    request = (await reviewing.sink.wait_for(ADA, 3))[2]
    assert "ask for changes" in text(request)
    assert "please describe how consent was documented.\nAnd who owns it." in text(request)
    assert "keep your own hosting" not in text(request)
    changes = (await reviewing.sink.wait_for(RITA, 2))[1]
    assert "Status: changes requested" in text(changes)
    assert (await submission(reviewing)).status == "changes_requested"

    await reviewing.send(reply_to(request, "Here is the corrected card.",
                                  attachments=[("README.md", FIXED_CARD, "text/markdown")]))
    relayed = (await reviewing.sink.wait_for(RITA, 3))[2]
    assert "Here is the corrected card." in text(relayed)
    assert "a new version of the dataset card, attached (README.md)" in text(relayed)
    assert "Dataset card check for README.md: PASSES" in text(relayed)
    assert "license: mit" in text(relayed) and "1 suggestion below" in text(relayed)  # new
    assert "Status: resubmitted" in text(relayed)
    assert attached(relayed) == [("README.md", FIXED_CARD)]
    record = await submission(reviewing)
    assert record.status == "resubmitted"
    async with reviewing.db.transaction() as session:
        assert (await session.scalars(select(AuditEntry.to_state).where(
            AuditEntry.action == "contributor.message"))).all() == ["resubmitted"]

    ack = (await reviewing.sink.wait_for(ADA, 4))[3]
    await reviewing.send(reply_to(ack, "withdraw"))
    withdrawn = (await reviewing.sink.wait_for(RITA, 4))[3]
    assert "The contributor (ada@example.org) withdrew OTDI-0001" in text(withdrawn)
    assert "How to answer" not in text(withdrawn)
    assert (await submission(reviewing)).status == "withdrawn"


async def test_only_listed_reviewers_decide_once(reviewing: Intake) -> None:
    await submit(reviewing)
    [review] = await reviewing.sink.wait_for(RITA)

    # Someone who got the e-mail forwarded: nothing changes, one polite notice, then silence.
    await reviewing.send(reply_to(review, "approve", sender="mallory@example.net"))
    [notice] = await reviewing.sink.wait_for("mallory@example.net")
    assert "Only OTDI reviewers can decide" in text(notice)
    assert notice["Reply-To"] == SUBMIT and "How to answer" not in text(notice)
    again = reply_to(review, "APPROVE!", sender="mallory@example.net")
    again.replace_header("To", SUBMIT)  # matched by the thread alone
    await reviewing.send(again)
    await reviewing.settle()
    assert len(reviewing.sink.to("mallory@example.net")) == 1
    assert (await submission(reviewing)).status == "in_review"
    assert await actions(reviewing, "mail.review_outsider") == ["mail.review_outsider"] * 2

    # A reviewer's comment without a decision: acknowledged with how to answer.
    await reviewing.send(reply_to(review, "Nice one, I will read the card tonight.",
                                  sender=RITA))
    comment = (await reviewing.sink.wait_for(RITA, 2))[1]
    assert "nothing was changed" in text(comment) and "How to answer" in text(comment)
    assert comment.rcpt_tos == [RITA]
    away = reply_to(comment, "I am out of the office.", sender=RITA, quote=False,
                    Auto_Submitted="auto-replied")
    await reviewing.send(away)  # a robot: never answered, never a decision
    await reviewing.settle()
    assert len(reviewing.sink.to(RITA)) == 2

    # The same approval delivered twice is one decision.
    approve = reply_to(review, "approve", sender=RITA)
    await reviewing.send(approve)
    await reviewing.send(approve)
    await reviewing.settle()
    assert await actions(reviewing, "review.approve") == ["review.approve"]
    assert sum("is approved" in text(m) for m in reviewing.sink.to(ADA)) == 1
    assert [(row.status, row.outcome) for row in await reviewing.inbound()
            if row.idempotency_key == str(approve["Message-ID"])] == [
        ("done", "review:approve")]  # the second delivery was a duplicate in the log

    # A later decision is refused, to the one who tried, with who decided.
    late = reply_to(review, "reject: too late", sender="otto@alliance.test")
    await reviewing.send(late)
    [refused] = await reviewing.sink.wait_for("otto@alliance.test")  # to him alone
    assert "already approved (by rita@alliance.test)" in text(refused)
    assert refused["In-Reply-To"] == str(late["Message-ID"])
    assert (await submission(reviewing)).status == "approved"


async def test_review_by_mail_only_without_slack_reviewing(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/modes.db")

    def registered(**overrides: str) -> bool:
        settings = make_settings(db, 25, **overrides)
        runtime = build_runtime(settings, db)
        MailAdapter().register(runtime)
        assert (REVIEW_CHANNEL in runtime.deliverers) == review_by_mail(settings)
        return REVIEW_CHANNEL in runtime.deliverers

    slack = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    assert registered(INTAKE_REVIEW_EMAILS=RITA)
    assert registered(INTAKE_REVIEW_EMAILS=RITA, **slack)  # Slack, but no review channel
    assert not registered(INTAKE_REVIEW_EMAILS=RITA, INTAKE_REVIEW_CHANNEL="C1", **slack)
    assert not registered()
    await db.dispose()


def test_the_contributor_is_left_out_of_their_own_review_thread(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/unused.db")
    settings = make_settings(db, 25, INTAKE_REVIEW_EMAILS=f"{RITA} Ada@Example.org")
    assert reviewers_of(settings, {"email": ADA, "contributor": ADA}) == [RITA]


@pytest.mark.parametrize(("written", "expected"), [
    ("approve", ("approve", "")),
    ("To contributor: which licence?", ("ask", "which licence?")),
    ("I will look tonight", None),
])
def test_read_decision(written: str, expected: tuple[str, str] | None) -> None:
    assert read_decision(written) == expected


async def test_a_decision_accepted_before_a_crash_is_applied_once_after_restart(
        db: Database, sink: Sink) -> None:
    first = await start_intake(db, sink, INTAKE_REVIEW_EMAILS=f"{RITA}, {OTTO}")
    try:
        await submit(first)
        [review] = await first.sink.wait_for(RITA)
        await first.settle()
    finally:
        await stop_intake(first)
    approve = reply_to(review, "approve", sender=RITA)
    # Accepted (250), then the process died before it decided anything.
    dying = await start_intake(db, sink, process=False, worker=False,
                               INTAKE_REVIEW_EMAILS=f"{RITA}, {OTTO}")
    try:
        assert await dying.send(approve) == {}
    finally:
        await stop_intake(dying)
    assert (await submission(first)).status == "in_review"
    restarted = await start_intake(db, sink, INTAKE_REVIEW_EMAILS=f"{RITA}, {OTTO}")
    try:
        await restarted.settle()
        assert await restarted.send(approve) == {}  # the client's retry: a duplicate
        await restarted.settle()
        assert await actions(restarted, "review.approve") == ["review.approve"]
        assert sum("is approved" in text(m) for m in sink.to(ADA)) == 1
        assert len(sink.to(RITA)) == 2  # the review and one status, no refusal
        assert [(r.status, r.outcome) for r in await restarted.inbound()
                if r.idempotency_key == str(approve["Message-ID"])] == [
            ("done", "review:approve")]
        assert (await submission(restarted)).status == "approved"
    finally:
        await stop_intake(restarted)
