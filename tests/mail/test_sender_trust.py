"""Who is speaking, by e-mail: a ``From:`` header is a claim, not an identity.

Each attack that once worked, over real SMTP to the running inbox: the message is
refused or held for a confirmation sent to the address on record, changes nothing, and
leaves an audit row; the rightful owner confirming from their mailbox makes the same
action work. Messages "arrive through" the receiving server the tests trust (``MX``),
whose ``Authentication-Results`` header says what it found.
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select, update

from core import repository
from core.storage.database import Database
from core.storage.models import (
    AuditEntry,
    CardVersion,
    Confirmation,
    LoggedEvent,
    OutboxMessage,
    Submission,
)
from core.trust import SenderTrust
from mail.auth import authenticate
from tests.mail.conftest import (
    CARD,
    EVERY_FIELD,
    MX,
    SUBMIT,
    Intake,
    Received,
    Sink,
    eventually,
    letter,
    reply_to,
    start_intake,
    stop_intake,
)

ALICE = "alice@example.org"
RITA = "rita@alliance.test"
FORGED = f"{MX}; dkim=fail header.d=example.org; spf=fail smtp.mailfrom=evil.test; " \
         "dmarc=fail header.from=example.org"
NEW_CARD = CARD.replace(b"license: cdla-permissive-2.0", b"license: mit")


@pytest.fixture
async def intake(db: Database, sink: Sink) -> AsyncIterator[Intake]:
    running = await start_intake(db, sink, INTAKE_REVIEW_EMAILS=RITA)
    try:
        yield running
    finally:
        await stop_intake(running)


def body(received: Received) -> str:
    return received.body.replace("\r\n", "\n")


async def submitted(intake: Intake, sender: str = ALICE) -> list[Received]:
    """Every field and the card, then "yes" to what is asked until it is submitted."""
    await intake.send(letter(EVERY_FIELD, sender=sender,
                             attachments=[("README.md", CARD, "text/markdown")]))
    for count in range(1, 6):
        last = (await intake.sink.wait_for(sender, count))[-1]
        if "submitted as OTDI-" in body(last):
            await intake.settle()
            return intake.sink.to(sender)
        await intake.send(reply_to(last, "yes", sender=sender))
    raise AssertionError("never submitted: " + body(last))


async def status(intake: Intake) -> str:
    async with intake.db.transaction() as session:
        return str((await session.scalars(select(Submission.status))).one())


async def audited(intake: Intake, action: str) -> list[AuditEntry]:
    async with intake.db.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(
            AuditEntry.action == action).order_by(AuditEntry.id))).all())


async def count(intake: Intake, model: type, *where: object) -> int:
    async with intake.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def confirmation_to(intake: Intake, address: str, seen: int) -> Received:
    """The next e-mail to ``address``: it must be a confirmation request."""
    asked = (await intake.sink.wait_for(address, seen + 1))[seen]
    assert "could not verify that it was sent by you" in body(asked)
    assert "+v" in asked["Reply-To"]  # the token only the mailbox owner sees
    token = asked["Reply-To"].split("+", 1)[1].split("@", 1)[0]

    async def forgotten() -> bool:  # once sent, only its hash is kept
        async with intake.db.transaction() as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
        return all(token not in str(row.payload) for row in rows)

    await eventually(forgotten)
    return asked


# -- contributors ---------------------------------------------------------------------------

async def test_a_forged_from_cannot_change_a_draft_until_the_owner_confirms(
        intake: Intake) -> None:
    await intake.send(letter("Dataset name: Coral Reef Images", sender=ALICE))
    await intake.sink.wait_for(ALICE)
    await intake.send(letter("Dataset location: https://phish.evil.test/login", sender=ALICE,
                             Authentication_Results=FORGED, subject="update"))
    asked = await confirmation_to(intake, ALICE, 1)
    assert "to change the answers of your draft" in body(asked)
    await intake.settle()
    async with intake.db.transaction() as session:
        state = await repository.mail_conversation_state(session, ALICE)
    assert "location" not in state["answers"] and state["answers"]["name"] == "Coral Reef Images"
    [held] = await audited(intake, "sender.held_for_confirmation")
    assert held.detail == {"action": "draft", "trust": "fail"}

    await intake.send(reply_to(asked, "confirm", sender=ALICE, auth=None))
    await intake.sink.wait_for(ALICE, 3)
    await intake.settle()
    async with intake.db.transaction() as session:
        state = await repository.mail_conversation_state(session, ALICE)
    assert state["answers"]["location"] == "https://phish.evil.test/login"  # she said so
    assert len(await audited(intake, "mail.confirmed")) == 1


async def test_a_plain_mail_saying_withdraw_withdraws_nothing_until_confirmed(
        intake: Intake) -> None:
    before = len(await submitted(intake))
    assert await status(intake) in ("submitted", "in_review")
    # No token, no Authentication-Results at all: the plain submission address.
    await intake.send(letter("withdraw", sender=ALICE, auth=None, subject="OTDI-0001"))
    asked = await confirmation_to(intake, ALICE, before)
    assert "asking to withdraw OTDI-0001" in body(asked)
    await intake.settle()
    assert await status(intake) != "withdrawn"
    assert await count(intake, OutboxMessage, OutboxMessage.channel == "review",
                       OutboxMessage.payload["kind"].as_string() == "review.status") == 0

    confirm = reply_to(asked, "Confirm\n\nAlice", sender=ALICE, auth=None)
    await intake.send(confirm)
    done = (await intake.sink.wait_for(ALICE, before + 2))[before + 1]
    assert "is withdrawn" in body(done)
    await intake.settle()
    assert await status(intake) == "withdrawn"

    # The token works once: the same confirmation again (a new message) does nothing more.
    again = reply_to(asked, "confirm", sender=ALICE, auth=None)
    await intake.send(again)
    refused = (await intake.sink.wait_for(ALICE, before + 3))[before + 2]
    assert "already confirmed" in body(refused)
    assert [e.detail["reason"] for e in await audited(intake, "mail.confirmation_refused")] \
        == ["used"]


async def test_a_forged_new_card_replaces_nothing_and_reviewers_hear_nothing(
        intake: Intake) -> None:
    before = len(await submitted(intake))
    versions = await count(intake, CardVersion)
    relays = await count(intake, OutboxMessage, OutboxMessage.channel == "review")
    await intake.send(letter("Here is the corrected card.", sender=ALICE,
                             Authentication_Results=FORGED,
                             attachments=[("README.md", NEW_CARD, "text/markdown")]))
    asked = await confirmation_to(intake, ALICE, before)
    assert "to replace the card of OTDI-0001" in body(asked)
    await intake.settle()
    assert await count(intake, CardVersion) == versions
    assert await count(intake, OutboxMessage, OutboxMessage.channel == "review") == relays
    assert await count(intake, AuditEntry, AuditEntry.action == "contributor.message") == 0

    await intake.send(reply_to(asked, "yes", sender=ALICE, auth=None))
    await intake.sink.wait_for(ALICE, before + 2)
    await intake.settle()
    assert await count(intake, CardVersion) == versions + 1
    assert await count(intake, AuditEntry, AuditEntry.action == "contributor.message") == 1
    relay = (await intake.sink.wait_for(RITA, 2))[1]  # the review thread: opened, then this
    assert "Here is the corrected card." in body(relay)


async def test_an_expired_confirmation_does_nothing(intake: Intake) -> None:
    before = len(await submitted(intake))
    await intake.send(letter("withdraw", sender=ALICE, auth=None))
    asked = await confirmation_to(intake, ALICE, before)
    await intake.settle()
    async with intake.db.transaction() as session:
        await session.execute(update(Confirmation).values(  # a day later, as it were
            expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    await intake.send(reply_to(asked, "confirm", sender=ALICE, auth=None))
    refused = (await intake.sink.wait_for(ALICE, before + 2))[before + 1]
    assert "has expired" in body(refused)
    await intake.settle()
    assert await status(intake) != "withdrawn"


async def test_an_authenticated_withdraw_needs_no_confirmation(intake: Intake) -> None:
    before = len(await submitted(intake))
    await intake.send(letter("withdraw", sender=ALICE))  # dmarc=pass from the trusted MX
    done = (await intake.sink.wait_for(ALICE, before + 1))[before]
    assert "is withdrawn" in body(done)
    await intake.settle()
    assert await status(intake) == "withdrawn"
    assert await count(intake, Confirmation) == 0


async def test_a_results_header_from_an_untrusted_server_is_ignored(intake: Intake) -> None:
    before = len(await submitted(intake))
    await intake.send(letter("withdraw", sender=ALICE, Authentication_Results=(
        "mx.evil.test; dmarc=pass header.from=example.org")))
    await confirmation_to(intake, ALICE, before)
    await intake.settle()
    assert await status(intake) != "withdrawn"


async def test_requiring_authentication_holds_even_a_first_message(db: Database,
                                                                   sink: Sink) -> None:
    running = await start_intake(db, sink, INTAKE_REQUIRE_SENDER_AUTH="true")
    try:
        await running.send(letter("Dataset name: Coral Reef Images", sender=ALICE, auth=None))
        asked = await confirmation_to(running, ALICE, 0)
        assert "to go on with your contribution" in body(asked)
        await running.settle()
        async with running.db.transaction() as session:
            assert not (await repository.mail_conversation_state(session, ALICE)).get(
                "answers")
        await running.send(reply_to(asked, "confirm", sender=ALICE, auth=None))
        await running.sink.wait_for(ALICE, 2)
        await running.settle()
        async with running.db.transaction() as session:
            state = await repository.mail_conversation_state(session, ALICE)
        assert state["answers"]["name"] == "Coral Reef Images"
    finally:
        await stop_intake(running)


# -- addresses ------------------------------------------------------------------------------

async def test_the_address_never_comes_from_the_display_name(intake: Intake) -> None:
    raw = (b"From: =?utf-8?q?a:victim@target.test;?= <p6-display@example.org>\r\n"
           b"To: " + SUBMIT.encode() + b"\r\nSubject: hello\r\n"
           b"Message-ID: <p6@example.org>\r\n\r\nDataset name: Coral\r\n")
    assert await intake.send(raw, mail_from="p6-display@example.org") == {}
    await intake.sink.wait_for("p6-display@example.org")
    await intake.settle()
    assert intake.sink.to("victim@target.test") == []
    async with intake.db.transaction() as session:
        assert (await repository.mail_conversation_state(session, "victim@target.test")) \
            .get("answers") is None


async def test_an_encoded_line_break_in_the_display_name_is_refused_at_data(
        intake: Intake) -> None:
    raw = (b"From: =?utf-8?q?_victim@evil.test=0d=0a?= <ok@example.org>\r\n"
           b"To: " + SUBMIT.encode() + b"\r\nSubject: hello\r\n"
           b"Message-ID: <crlf@example.org>\r\n\r\nDataset name: Coral\r\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await intake.send(raw, mail_from="ok@example.org")
    assert refused.value.smtp_code == 550
    assert b"cannot be read safely" in refused.value.smtp_error
    assert await count(intake, LoggedEvent) == 0  # nothing stored
    await intake.settle()
    assert intake.sink.messages == []


async def test_a_stranger_in_a_thread_is_not_told_its_reference(intake: Intake) -> None:
    mails = await submitted(intake)
    await intake.send(reply_to(mails[-1], "Let me in", sender="mallory@evil.test"))
    [notice] = await intake.sink.wait_for("mallory@evil.test")
    assert "belongs to another contributor" in body(notice)
    assert "OTDI-" not in body(notice) and "OTDI-" not in notice["Subject"]


# -- reviewers ------------------------------------------------------------------------------

async def review_mail(intake: Intake) -> Received:
    await submitted(intake)
    [review] = await intake.sink.wait_for(RITA)
    return review


async def test_a_forged_reviewer_approval_is_held_until_the_reviewer_confirms(
        intake: Intake) -> None:
    review = await review_mail(intake)
    forged = reply_to(review, "approve", sender=RITA, Authentication_Results=FORGED.replace(
        "example.org", "alliance.test"))
    await intake.send(forged, mail_from="attacker@evil.test")
    asked = await confirmation_to(intake, RITA, 1)
    assert 'decision "approve" on OTDI-0001' in body(asked)
    await intake.settle()
    assert await status(intake) == "in_review"
    [held] = await audited(intake, "mail.review_held_for_confirmation")
    assert held.actor == RITA and held.detail["trust"] == "fail"

    told = len(intake.sink.to(ALICE))
    await intake.send(reply_to(asked, "confirm", sender=RITA, auth=None))
    approval = (await intake.sink.wait_for(ALICE, told + 1))[told]
    assert "is approved" in body(approval)
    await intake.settle()
    assert await status(intake) == "approved"
    [confirmed] = await audited(intake, "mail.confirmed")
    assert confirmed.actor == RITA and confirmed.detail["purpose"] == "reviewer"


async def test_a_quoted_message_id_is_never_enough_to_decide(intake: Intake) -> None:
    review = await review_mail(intake)
    plain = letter("approve", sender=RITA, subject="Re: " + review["Subject"])
    plain["In-Reply-To"] = review["Message-ID"]  # a forwarded review or a list archive
    await intake.send(plain)
    refused = (await intake.sink.wait_for(RITA, 2))[1]
    assert "only in a reply to the review e-mail itself" in body(refused)
    await intake.settle()
    assert await status(intake) == "in_review"
    assert len(await audited(intake, "mail.review_refused_no_token")) == 1


# -- DKIM, checked by us ----------------------------------------------------------------------

class Keys:
    """A DKIM key pair and the DNS TXT record the test's resolver serves for it."""

    def __init__(self) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private = key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        self.record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)
        self.asked: list[bytes] = []

    def txt(self, name: bytes, timeout: int = 5) -> bytes | None:
        self.asked.append(name)
        return self.record if name.rstrip(b".") == b"s1._domainkey.example.org" else None

    def sign(self, message: bytes) -> bytes:
        return dkim.sign(message, b"s1", b"example.org", self.private,
                         include_headers=[b"from", b"to", b"subject", b"message-id"]) + message


def signed_letter(keys: Keys, text: str) -> bytes:
    message = letter(text, sender=ALICE, auth=None)
    return keys.sign(message.as_bytes().replace(b"\n", b"\r\n").replace(b"\r\r\n", b"\r\n"))


def test_a_dkim_signature_passes_and_one_changed_body_byte_fails() -> None:
    keys = Keys()
    raw = signed_letter(keys, "withdraw")
    ours = {"trusted_authserv_ids": frozenset(), "verify_dkim": True, "dns_txt": keys.txt}
    assert authenticate(raw, ALICE, **ours).trust is SenderTrust.PASS
    tampered = raw.replace(b"withdraw", b"withdrav")
    assert len(tampered) == len(raw) and tampered != raw
    assert authenticate(tampered, ALICE, **ours).trust is SenderTrust.FAIL
    assert authenticate(raw, "alice@elsewhere.test", **ours).trust is not SenderTrust.PASS
    assert keys.asked and all(b"example.org" in name for name in keys.asked)


async def test_a_dkim_signed_withdraw_goes_through_a_tampered_one_is_held(
        db: Database, sink: Sink) -> None:
    running = await start_intake(db, sink, INTAKE_TRUSTED_AUTHSERV_IDS="",
                                 INTAKE_VERIFY_DKIM="true", INTAKE_REVIEW_EMAILS=RITA)
    keys = Keys()
    running.runtime.handlers["mail"].dns_txt = keys.txt  # DNS served by the test
    try:
        before = len(await submitted(running))  # unsigned: a draft may be answered
        tampered = signed_letter(keys, "withdraw please").replace(b"please", b"pleasE")
        await running.send(tampered, mail_from=ALICE)
        await confirmation_to(running, ALICE, before)
        await running.settle()
        assert await status(running) != "withdrawn"

        await running.send(signed_letter(keys, "withdraw"), mail_from=ALICE)
        done = (await running.sink.wait_for(ALICE, before + 2))[before + 1]
        assert "is withdrawn" in body(done)
        await running.settle()
        assert await status(running) == "withdrawn"
    finally:
        await stop_intake(running)
