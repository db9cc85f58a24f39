"""Malformed MIME is refused or handled: never a crash, never half a submission."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.storage.models import Conversation, Submission
from mail.parsing import parse_message
from mail.robots import delivery_report, robot_reason
from tests.mail.conftest import CARD, Intake, letter
from tests.mail.corpus import CORPUS, REFUSED_BY_SMTP, build

VALID = letter("name: Ocean\nurl: https://example.org/ocean",
               attachments=[("README.md", CARD[:600], "text/markdown"),
                            ("photo.jpg", b"\xff\xd8\xff\xe0" * 20, "image/jpeg")]).as_bytes()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_malformed_message_parses_to_something(name: str) -> None:
    mail = parse_message(build(name), envelope_from=f"{name}@example.org")
    assert mail.message_id.startswith("<")
    assert mail.from_address.endswith("@example.org")  # the envelope when From is broken
    robot_reason(mail, f"{name}@example.org")
    delivery_report(mail)


def test_a_thousand_attachments_are_counted_not_listed() -> None:
    mail = parse_message(build("thousand-attachments"))
    assert (len(mail.ignored), mail.ignored_more) == (20, 980)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cut=st.integers(0, len(VALID)),
       edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.binary(max_size=8)),
                      max_size=12))
def test_mutilated_messages_never_raise(cut: int, edits: list[tuple[int, bytes]]) -> None:
    data = bytearray(VALID[:cut] if cut > 40 else VALID)
    for position, chunk in edits:
        position %= max(len(data), 1)
        data[position:position + len(chunk)] = chunk
    mail = parse_message(bytes(data), envelope_from="fuzz@example.org")
    robot_reason(mail, "fuzz@example.org")
    delivery_report(mail)


async def test_the_corpus_over_smtp_leaves_the_inbox_serving(intake: Intake) -> None:
    import smtplib

    for name in sorted(CORPUS):
        sender = f"{name}@example.org"
        if name in REFUSED_BY_SMTP:
            with pytest.raises(smtplib.SMTPDataError) as refused:
                await intake.send(build(name), mail_from=sender)
            assert refused.value.smtp_code == REFUSED_BY_SMTP[name]
        else:
            assert await intake.send(build(name), mail_from=sender) == {}, name
    await intake.settle()
    rows = await intake.inbound()
    assert len(rows) == len(CORPUS) - len(REFUSED_BY_SMTP)  # refused ones left nothing
    assert {row.status for row in rows} == {"done"}, [
        (row.order_key, row.status, row.error) for row in rows if row.status != "done"]
    async with intake.db.transaction() as session:
        assert (await session.scalars(select(Submission))).all() == []
        for conversation in (await session.scalars(select(Conversation))).all():
            assert conversation.state.get("phase") in ("collecting", "confirming", "cancelled")
    # Still serving, and still answering people.
    await intake.send(letter("name: Ocean", sender="after@example.org"))
    [reply] = await intake.sink.wait_for("after@example.org")
    assert "Dataset name: Ocean" in reply.body
