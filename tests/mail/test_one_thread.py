"""An e-mail conversation is one mail thread, and a person is never silenced.

Real SMTP into the running inbox, replies read from the SMTP sink, replies written the
way a mail client writes them (``reply_to``: to the Reply-To, threaded, the thread
quoted below). Each test reads as a transcript: what the contributor writes, what
comes back.
"""

from __future__ import annotations

import asyncio
import io
from contextlib import redirect_stdout

from sqlalchemy import select

from core import reports
from core.render import Renderer
from core.storage.database import Database
from core.storage.models import AuditEntry, OutboxMessage
from mail.models import MailThread
from mail.options import MailOptions
from tests.mail.conftest import (
    CARD,
    Intake,
    Received,
    Sink,
    letter,
    reply_to,
    start_intake,
    stop_intake,
)

ADA = "ada@example.org"


async def converse(intake: Intake, first: str, answers: list[str | None],
                   ) -> tuple[list[Received], list[str]]:
    """The first e-mail, then one reply per answer (None: the card, attached), each
    written to the bot's last e-mail; returns what came back and the Message-IDs sent."""
    opening = letter(first)
    await intake.send(opening)
    sent = [str(opening["Message-ID"])]
    got = await intake.sink.wait_for(ADA)
    for number, answer in enumerate(answers, start=2):
        message = reply_to(got[-1], answer or "Here is the card.")
        if answer is None:
            message.add_attachment(CARD, maintype="text", subtype="markdown",
                                   filename="README.md")
        await intake.send(message)
        sent.append(str(message["Message-ID"]))
        got = await intake.sink.wait_for(ADA, number)
    return got, sent


async def suppressed(db: Database) -> list[AuditEntry]:
    async with db.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == "mail.reply_suppressed"))).all())


async def outbox_statuses(db: Database, recipient: str) -> list[str]:
    async with db.transaction() as session:
        return list((await session.scalars(select(OutboxMessage.status).where(
            OutboxMessage.channel == "mail", OutboxMessage.recipient == recipient)
            .order_by(OutboxMessage.id))).all())


async def show(db: Database, reference: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        assert await reports.print_show(db, Renderer(), reference) == 0
    return out.getvalue()


TWELVE = [
    "Ocean Temperatures",                     # 1 the name
    "not sure yet, let me ask my colleague",  # 2 not a link: asked again
    "https://example.org/ocean",              # 3 the location
    "no",                                     # 4 hosting: we keep our own
    None,                                     # 5 the card, attached
    "status",                                 # 6 where do I stand?
    "text",                                   # 7 modalities
    "marine",                                 # 8 domain
    "help",                                   # 9
    "yes, I agree",                           # 10 consent to the terms shown
    "summary",                                # 11
    "yes",                                    # 12 submit
]


async def test_twelve_one_field_replies_are_one_thread_with_every_answer(
        intake: Intake) -> None:
    got, sent = await converse(intake, "Hello, I would like to offer a dataset.", TWELVE)
    assert len(got) == 13  # the welcome and all 12 answers, none held back
    assert "submitted as OTDI-0001" in got[-1].body
    assert {m["Subject"] for m in got} == {"[OTDI-0001] Re: A dataset"}  # from the first
    assert len({m["Reply-To"] for m in got}) == 1  # one token, before and after submitting
    async with intake.db.transaction() as session:
        [thread] = (await session.scalars(select(MailThread))).all()
    assert got[0]["Reply-To"] == f"data+{thread.token}@otdi.test"
    for number, (ours, theirs) in enumerate(zip(got, sent, strict=True)):
        assert ours["In-Reply-To"] == theirs  # each answers the message it replies to
        if number:
            assert got[number - 1]["Message-ID"] in ours["References"].split()
            assert theirs in ours["References"].split()
    assert "Please keep OTDI-0001 in the subject" in got[0].body  # from the first reply
    assert "Dataset name: Ocean Temperatures" in got[1].body
    assert "https://" in got[2].body and "https://example.org/ocean" in got[3].body
    assert await suppressed(intake.db) == []
    assert set(await outbox_statuses(intake.db, ADA)) == {"sent"}


async def test_after_submitting_every_message_is_acknowledged(intake: Intake) -> None:
    """With the default cap of 6, seven and more e-mails after the submission (each
    different) are all answered: a conversation is not a loop."""
    later = [f"Note {word}: the {word} file is ready." for word in (
        "one", "two", "three", "four", "five", "six", "seven", "eight")]
    answers = TWELVE[:1] + TWELVE[2:5] + TWELVE[6:8] + ["yes, I agree", "yes"] + later
    got, _ = await converse(intake, "Hello, I would like to offer a dataset.", answers)
    assert len(got) == len(answers) + 1
    assert "submitted as OTDI-0001" in got[8].body
    for reply in got[9:]:
        assert "passed your message on to the reviewers of OTDI-0001" in reply.body
    assert await suppressed(intake.db) == []


async def test_a_person_trying_again_and_again_is_always_answered(intake: Intake) -> None:
    """Eight different wrong tries at one question get the same correction eight times:
    no progress, but nothing repeated, so none is held back."""
    tries = ["not sure yet", "let me check", "ask Bob", "our website", "see our paper",
             "somewhere on our server", "I will look it up", "tomorrow maybe"]
    got, _ = await converse(intake, "name: Ocean Temperatures", tries)
    assert len(got) == 9
    assert all("Where can the dataset be found?" in reply.body for reply in got[1:])
    assert await suppressed(intake.db) == []


async def test_a_ticket_robot_that_numbers_its_replies_is_held_back(
        db: Database, sink: Sink) -> None:
    """A robot that slipped through (no Auto-Submitted) and answers every e-mail with the
    same words and a new number: past the cap, our replies to it are suppressed."""
    intake = await start_intake(db, sink, options=MailOptions(_env_file=None,
                                                              replies_per_hour=2))
    robot = "helpdesk@example.com"
    try:
        for number in range(100, 106):
            await intake.send(letter(f"Ticket #{number} received. We will answer soon.",
                                     sender=robot, subject=f"Ticket {number}"))
            await intake.settle()
        statuses = await outbox_statuses(db, robot)
        assert statuses.count("suppressed") >= 2 and statuses[-1] == "suppressed"
        assert len(sink.to(robot)) == statuses.count("sent") <= 4
    finally:
        await stop_intake(intake)


async def test_a_suppressed_reply_is_shown_as_suppressed(db: Database, sink: Sink) -> None:
    intake = await start_intake(db, sink, options=MailOptions(_env_file=None,
                                                              replies_per_hour=2))
    try:
        answers = TWELVE[:1] + TWELVE[2:5] + TWELVE[6:8] + ["yes, I agree", "yes"]
        got, _ = await converse(intake, "Hello, I would like to offer a dataset.", answers)
        assert "submitted as OTDI-0001" in got[-1].body
        for _ in range(4):  # the same two words again and again
            await intake.send(reply_to(got[-1], "thanks!"))
            await intake.settle()
        assert len(sink.to(ADA)) == len(got) + 3  # the first thanks and two repeats
        [entry] = await suppressed(db)
        held = entry.detail["outbox_id"]
        statuses = await outbox_statuses(db, ADA)
        assert statuses.count("suppressed") == 1 and statuses.count("sent") == len(got) + 3
        shown = await show(db, "OTDI-0001")
        line = next(x for x in shown.splitlines() if x.strip().startswith(f"#{held} "))
        assert "suppressed, never sent" in line and "sent " not in line.split("never")[0]
        assert "held back, not sent" in shown  # the audit row says so too
        sent_lines = [x for x in shown.splitlines() if x.strip().startswith("#")
                      and "  sent" in x and "suppressed" not in x]
        assert len(sent_lines) >= len(got)  # the draft's replies are listed too
    finally:
        await stop_intake(intake)


async def test_the_footer_fits_the_phase(intake: Intake) -> None:
    answers = TWELVE[:1] + TWELVE[2:5] + TWELVE[6:8] + ["yes, I agree", "yes", "status"]
    got, _ = await converse(intake, "Hello, I would like to offer a dataset.", answers)
    draft, submitted, later = got[1].body, got[-2].body, got[-1].body
    assert '"change <field>"' in draft and '"cancel"' in draft
    for body in (submitted, later):
        footer = body.replace("\r\n", "\n").split("\n-- \n", 1)[1]
        assert '"change <field>"' not in footer and '"summary"' not in footer
        assert '"withdraw"' in footer and "OTDI-0001 is with the OTDI reviewers" in footer


async def test_a_new_e_mail_about_the_same_draft_stays_in_its_thread(
        intake: Intake) -> None:
    """Written fresh (not a reply, another subject): answered in the conversation's
    thread, with its subject and Reply-To, and our last e-mail in References."""
    await intake.send(letter("name: Ocean Temperatures", subject="Our ocean dataset"))
    [first] = await intake.sink.wait_for(ADA)
    fresh = letter("url: https://example.org/ocean", subject="the link I promised")
    await intake.send(fresh)
    [_, second] = await intake.sink.wait_for(ADA, 2)
    assert first["Subject"] == second["Subject"] == "[OTDI-0001] Re: Our ocean dataset"
    assert first["Reply-To"] == second["Reply-To"]
    assert second["In-Reply-To"] == str(fresh["Message-ID"])
    assert first["Message-ID"] in second["References"].split()


async def test_a_stranger_in_a_submitted_thread_is_on_the_submission_s_record(
        intake: Intake) -> None:
    """The token is the conversation's, before and after submitting: a stranger answering
    the thread after the submission still changes nothing, and the record says so."""
    answers = TWELVE[:1] + TWELVE[2:5] + TWELVE[6:8] + ["yes, I agree", "yes"]
    got, _ = await converse(intake, "Hello, I would like to offer a dataset.", answers)
    assert "submitted as OTDI-0001" in got[-1].body
    await intake.send(reply_to(got[-1], "withdraw", sender="mallory@example.net"))
    await intake.sink.wait_for("mallory@example.net")
    async with intake.db.transaction() as session:
        entry = await session.scalar(select(AuditEntry).where(
            AuditEntry.action == "mail.stranger_refused"))
    assert entry is not None and entry.submission_id is not None
    assert "mail.stranger_refused" in await show(intake.db, "OTDI-0001")
    assert len(intake.sink.to(ADA)) == len(got)  # nothing was said to the contributor


async def test_first_e_mails_arriving_together_get_distinct_references(
        intake: Intake) -> None:
    senders = [f"person{n}@example.org" for n in range(8)]
    await asyncio.gather(*(intake.send(letter("Hello, I have a dataset.", sender=s))
                           for s in senders))
    firsts = {s: (await intake.sink.wait_for(s))[0] for s in senders}
    references = {s: m["Subject"].split("]")[0].removeprefix("[") for s, m in firsts.items()}
    assert sorted(references.values()) == [f"OTDI-{n:04d}" for n in range(1, 9)]
    await intake.send(reply_to(firsts[senders[3]], "Ocean Temperatures",
                               sender=senders[3]))
    [_, second] = await intake.sink.wait_for(senders[3], 2)
    assert second["Subject"] == firsts[senders[3]]["Subject"]  # the same one, kept
