"""E-mail written as people write it: a first message in prose, replies from a phone with
the thread quoted below, corrections, an early "I agree", cancel and undo. Real SMTP in,
real SMTP out (tests/mail/conftest.py)."""

from __future__ import annotations

from sqlalchemy import select

from core.storage.models import Conversation
from tests.mail.conftest import CARD, Intake, Received, letter, reply_to

DANA = "dana@example.org"


async def answers_of(intake: Intake, contributor: str = DANA) -> dict:
    async with intake.db.transaction() as session:
        state = await session.scalar(select(Conversation.state).where(
            Conversation.channel == "mail", Conversation.contributor_id == contributor))
    return dict((state or {}).get("answers", {}))


async def reply(intake: Intake, to: Received, body: str, count: int,
                sender: str = DANA, quote: bool = True) -> Received:
    await intake.send(reply_to(to, body, sender=sender, quote=quote))
    return (await intake.sink.wait_for(sender, count))[count - 1]


def from_a_phone(text: str) -> str:
    """What a phone's mail app writes above the quoted thread."""
    return f"{text}\n\nSent from my iPhone"


async def test_a_first_e_mail_in_prose_is_read_and_shown_back(intake: Intake) -> None:
    await intake.send(letter(
        "Hi,\n\nMy dataset is called Coral Reef Images and you can find it at "
        "http://example.org/coral.\n\nThanks,\nDana", sender=DANA))
    [first] = await intake.sink.wait_for(DANA)
    assert "I understood: name Coral Reef Images, location https://example.org/coral. " \
           "Right?" in first.body
    assert "What is the name of the dataset?" not in first.body
    assert "name" not in await answers_of(intake)

    second = await reply(intake, first, from_a_phone("Yes"), 2)
    assert "Dataset name: Coral Reef Images" in second.body
    assert "Dataset location: https://example.org/coral" in second.body
    assert "host the dataset" in second.body

    # From the phone again, the correction above the quoted thread:
    third = await reply(intake, second, from_a_phone("oops sorry, https://example.org/coral-v2"), 3)
    assert "Dataset location: https://example.org/coral-v2" in third.body
    assert (await answers_of(intake))["location"] == "https://example.org/coral-v2"

    fourth = await reply(intake, third, "wait, the name is wrong, it should just be Coral Reefs",
                         4)
    assert "Dataset name: Coral Reefs" in fourth.body
    state = await answers_of(intake)
    assert state["name"] == "Coral Reefs" and "hosting" not in state
    assert fourth["Subject"] == first["Subject"] and fourth["Reply-To"] == first["Reply-To"]


async def test_corrections_by_reply(intake: Intake) -> None:
    await intake.send(letter("Dataset name: Reef\nDataset location: https://example.org/reef\n"
                             "Hosting: no\nModalities: images", sender=DANA,
                             attachments=[("README.md", CARD, "text/markdown")]))
    [first] = await intake.sink.wait_for(DANA)
    assert "Which domain" in first.body
    second = await reply(intake, first, "Actually no - change the domain to Marine", 2)
    assert "Domain: Marine" in second.body and "your suggestion" not in second.body
    third = await reply(intake, second, from_a_phone("oh right, it's dana.k@example.org"), 3)
    assert "Contact e-mail: dana.k@example.org" in third.body
    assert "CDLA-Permissive-2.0" in third.body  # then the terms are asked


async def test_an_early_agreement_by_mail_shows_the_terms_once(intake: Intake) -> None:
    await intake.send(letter(
        "Dataset name: Reef\nDataset location: https://example.org/reef\nHosting: no\n"
        "Modalities: images\nDomain: Marine\nterms: sure", sender=DANA,
        attachments=[("README.md", CARD, "text/markdown")]))
    [first] = await intake.sink.wait_for(DANA)
    assert "Before I record your agreement" in first.body
    assert "CDLA-Permissive-2.0" in first.body and "Here is your contribution" in first.body
    assert "consent" not in await answers_of(intake)
    second = await reply(intake, first, from_a_phone("Yes, I agree"), 2)
    assert "is submitted as OTDI-" in second.body


async def test_cancel_by_mail_asks_and_undo_brings_it_back(intake: Intake) -> None:
    await intake.send(letter("name: Reef\nurl: https://example.org/reef", sender=DANA))
    [first] = await intake.sink.wait_for(DANA)
    second = await reply(intake, first, "cancel", 2)
    assert "Cancel this contribution?" in second.body
    assert (await answers_of(intake))["name"] == "Reef"
    third = await reply(intake, second, "yes", 3)
    assert "Cancelled" in third.body
    fourth = await reply(intake, third, from_a_phone("undo"), 4)
    assert "not cancelled" in fourth.body and "host the dataset" in fourth.body
    assert (await answers_of(intake))["name"] == "Reef"
