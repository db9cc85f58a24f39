"""The contribution conversation, end to end through the service and the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from core.conversation import Answers, Phase
from core.storage.models import AuditEntry, CardVersion, OutboxMessage, Submission
from tests.core.transcript import Transcript, make_service

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()


@pytest.fixture
def chat(db) -> Transcript:
    return Transcript(make_service(db))


async def complete_up_to_confirm(chat: Transcript) -> str:
    await chat.say("hi, I have a dataset")
    await chat.say("Ocean Temperatures")
    await chat.say("https://huggingface.co/datasets/example/ocean-temps")
    await chat.say("yes")
    await chat.upload("README.md", CARD)
    await chat.say("just text")
    await chat.say("Marine")
    await chat.say("ada@example.org")
    return await chat.say("yes, I agree")


async def test_one_field_at_a_time_to_a_submission(chat: Transcript, db) -> None:
    answer = await chat.say("hello")
    assert "Open Trusted Data Initiative" in answer
    assert "name of the dataset" in answer

    answer = await chat.say("  Ocean   Temperatures ")
    assert "Dataset name: Ocean Temperatures" in answer
    assert "https://" in answer

    answer = await chat.say("http://example.org/ocean")
    assert "https://example.org/ocean" in answer  # the refusal offers the secure link
    assert (await chat.state()).asking == "location"

    answer = await chat.say("https://huggingface.co/datasets/example/ocean-temps")
    assert "host" in answer.lower()

    answer = await chat.say("keep my own")
    assert "Hosting: No, I keep my own hosting" in answer
    assert "dataset card" in answer.lower()

    answer = await chat.upload("README.md", CARD)
    assert "README.md" in answer
    assert "PASSES" in answer
    assert "modalities" in answer.lower()

    answer = await chat.say("1")
    assert "Modalities: Text Only" in answer
    answer = await chat.say("timeseries")
    assert "Domain: Time Series" in answer
    answer = await chat.say("ada@example.org")
    assert "CDLA-Permissive-2.0" in answer  # the terms are shown before consent is asked
    answer = await chat.say("yes please")
    assert "Here is your contribution" in answer
    assert "Submit" in answer

    answer = await chat.say("yes")
    assert "OTDI-0001" in answer
    state = await chat.state()
    assert state.phase is Phase.SUBMITTED and state.reference == "OTDI-0001"

    async with db.transaction() as session:
        submission = await session.scalar(select(Submission))
        assert submission.reference == "OTDI-0001"
        assert (submission.name, submission.hosting, submission.domain) == (
            "Ocean Temperatures", "self", "Time Series")
        assert submission.modalities == ["Text Only"]
        assert submission.email == "ada@example.org"
        card = await session.get(CardVersion, submission.card_version_id)
        assert card.content == CARD and card.submission_id == submission.id
        review = await session.scalar(select(OutboxMessage).where(
            OutboxMessage.channel == "review"))
        assert review.payload["reference"] == "OTDI-0001"
        actions = [a.action for a in (await session.scalars(
            select(AuditEntry).order_by(AuditEntry.id))).all()]
        assert actions.count("field.set") >= 7
        assert actions[-1] == "submitted"


async def test_several_fields_in_one_message(chat: Transcript) -> None:
    answer = await chat.say(
        "name: Ocean Temperatures, url: https://example.org/ocean?v=1,2\n"
        "Hosting: alliance\nmodalities: text, images\ndomain: marine\nemail: ada@example.org")
    for expected in ("Dataset name: Ocean Temperatures", "https://example.org/ocean?v=1,2",
                     "Modalities: Text Only, Images", "Domain: Marine",
                     "Contact e-mail: ada@example.org"):
        assert expected in answer
    assert "dataset card" in answer.lower()  # the one thing still missing comes next
    state = await chat.state()
    assert state.asking == "card"


async def test_change_an_answer_in_words(chat: Transcript) -> None:
    await complete_up_to_confirm(chat)
    answer = await chat.say("change the domain to Climate")
    assert "Domain: Climate" in answer
    assert "Here is your contribution" in answer
    answer = await chat.say("change name")
    assert "Ocean Temperatures" in answer  # the current value is shown
    answer = await chat.say("Atlantic Buoys")
    assert "Dataset name: Atlantic Buoys" in answer
    assert (await chat.state()).phase is Phase.CONFIRMING


async def test_a_domain_of_their_own_is_confirmed(chat: Transcript) -> None:
    await chat.say("name: Stars, url: https://example.org/stars, hosting: no, modalities: images")
    await chat.upload("README.md", CARD)
    answer = await chat.say("Astrophysics")
    assert "Astrophysics" in answer and "suggestion" in answer
    answer = await chat.say("yes")
    assert "Domain: Astrophysics (your suggestion)" in answer


async def test_two_domains_are_refused(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("domain: climate and marine")
    assert "one" in answer.lower()
    assert (await chat.state()).answers.domain is None


async def test_consent_must_be_explicit(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: yes, modalities: audio, "
                   "domain: legal, email: ada@example.org")
    await chat.upload("README.md", CARD)
    answer = await chat.say("maybe")
    assert (await chat.state()).asking == "consent"
    assert (await chat.state()).answers.consent is None
    answer = await chat.say("no")
    assert "cannot submit" in answer
    answer = await chat.say("I agree")
    assert "Here is your contribution" in answer


async def test_a_card_with_problems_is_submitted_anyway_from_the_summary(
        chat: Transcript, db) -> None:
    """The summary lists the card's problems and offers "submit anyway": one "yes" sends
    it (it used to cost a second round trip)."""
    await chat.say("name: X, url: https://example.org/x, hosting: yes, modalities: audio, "
                   "domain: legal, email: ada@example.org")
    answer = await chat.upload("card.md", b"# Just a title\n\nNo front matter at all.\n")
    assert "problem" in answer.lower()
    answer = await chat.say("I agree")
    assert "Here is your contribution" in answer
    assert "front matter" in answer  # the problems, listed in the summary
    assert 'Answer "submit anyway" (or "yes")' in answer
    answer = await chat.say("yes")
    assert "OTDI-0001" in answer
    async with db.transaction() as session:
        submission = await session.scalar(select(Submission))
    assert submission.extra["card_errors_acknowledged"] is True


async def test_a_corrected_card_is_a_new_version(chat: Transcript, db) -> None:
    await chat.say("hello")
    await chat.upload("card.md", b"no front matter\n")
    answer = await chat.upload("README.md", CARD)
    assert "new version" in answer
    async with db.transaction() as session:
        versions = (await session.scalars(select(CardVersion))).all()
    assert [v.filename for v in versions] == ["card.md", "README.md"]


async def test_a_pdf_is_refused_and_the_card_asked_again(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: yes")
    answer = await chat.upload("README.md", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    assert "PDF" in answer
    assert (await chat.state()).asking == "card"


async def test_commands(chat: Transcript) -> None:
    await chat.say("name: Ocean")
    answer = await chat.say("status")
    assert "1 of 8" in answer
    answer = await chat.say("help")
    assert "change" in answer
    answer = await chat.say("summary")
    assert "Dataset name: Ocean" in answer
    answer = await chat.say("restart")
    assert "Starting over" in answer
    assert (await chat.state()).answers == Answers()
    await chat.say("name: Ocean")
    answer = await chat.say("cancel")  # one answer is not thrown away on one word
    assert "Cancel this contribution?" in answer and "Cancelled" not in answer
    answer = await chat.say("yes")
    assert "Cancelled" in answer
    answer = await chat.say("hello again")
    assert "name of the dataset" in answer


async def test_a_reused_name_is_pointed_out(db) -> None:
    first = Transcript(make_service(db))
    await complete_up_to_confirm(first)
    await first.say("yes")
    from core.service import ConversationKey

    second = Transcript(first.service, ConversationKey("chat", "grace"))
    answer = await second.say("name: ocean temperatures")
    assert "already submitted" in answer and "OTDI-0001" in answer


async def test_after_submission_a_new_one_can_start(chat: Transcript) -> None:
    await complete_up_to_confirm(chat)
    await chat.say("yes")
    answer = await chat.say("what now?")
    assert "OTDI-0001" in answer
    answer = await chat.say("new")
    assert "name of the dataset" in answer
    assert (await chat.state()).reference == "OTDI-0002"  # another dataset, the next number


async def test_buttons_do_what_typing_does(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x")
    answer = await chat.click("hosting", "alliance")
    assert "Hosting: Yes, the AI Alliance hosts it" in answer
    await chat.upload("README.md", CARD)
    answer = await chat.click("modalities", "Images", "Audio")
    assert "Modalities: Images, Audio" in answer
    answer = await chat.click("domain", "other")
    assert "suggest" in answer.lower()
    answer = await chat.say("Astronomy")
    answer = await chat.click("domain_suggestion", "yes")
    assert "Astronomy (your suggestion)" in answer


async def test_the_same_event_twice_is_processed_once(db) -> None:
    from core.conversation import Inbound
    from core.service import ConversationKey

    service = make_service(db)
    key = ConversationKey("mail", "ada@example.org")
    first = await service.handle(key, Inbound(text="name: Ocean"), source="mail",
                                 external_id="<abc@example.org>")
    again = await service.handle(key, Inbound(text="name: Ocean"), source="mail",
                                 external_id="<abc@example.org>")
    assert not first.duplicate and again.duplicate
    async with db.transaction() as session:
        assert len((await session.scalars(select(OutboxMessage))).all()) == 1


async def test_a_greeting_is_not_an_answer(chat: Transcript) -> None:
    await chat.say("hello")
    answer = await chat.say("hey there")
    assert "name of the dataset" in answer
    assert (await chat.state()).answers.name is None


async def test_yes_takes_the_suggested_link(chat: Transcript) -> None:
    await chat.say("name: Birds")
    answer = await chat.say("http://example.org/birds")
    assert 'Answer "yes"' in answer
    answer = await chat.say("yes")
    assert "Dataset location: https://example.org/birds" in answer
    # No pending suggestion for hosting: a link typed now is offered as a new location,
    # and asked about, never stored silently.
    answer = await chat.say("www.example.org")
    assert "I understood: location https://www.example.org. Right?" in answer
    state = await chat.state()
    assert state.answers.location == "https://example.org/birds"
    answer = await chat.say("no")
    assert "did not keep it" in answer and "host the dataset" in answer
    assert (await chat.state()).asking == "hosting"


async def test_the_site_mailto_with_an_empty_card_line(chat: Transcript) -> None:
    answer = await chat.say("dataset-name: Ocean\ndataset-url: https://example.org/ocean\n"
                            "dataset-card: \nyes")
    assert "Dataset location: https://example.org/ocean" in answer
    await chat.say("yes")
    state = await chat.state()
    assert state.asking == "card"
    answer = await chat.say("status")
    assert "only fetch it by myself" in answer


async def test_a_card_by_url_is_fetched_and_answered_in_one_reply(db) -> None:
    from core.conversation import CardFile

    fetched: list[str] = []

    async def fetch(url: str) -> CardFile:
        fetched.append(url)
        return CardFile("README.md", CARD, source_url=url)

    chat = Transcript(make_service(db, fetch_card=fetch))
    await chat.say("name: Ocean, url: https://huggingface.co/datasets/example/ocean, hosting: no")
    answer = await chat.say("https://huggingface.co/datasets/example/ocean/raw/main/README.md")
    assert fetched == ["https://huggingface.co/datasets/example/ocean/raw/main/README.md"]
    assert "PASSES" in answer
    assert answer.count("Which modalities") == 1  # one reply, one question
    state = await chat.state()
    assert state.card is not None and state.card.source_url == fetched[0]


async def test_a_card_url_that_cannot_be_fetched_is_explained(db) -> None:
    from core.service import CardFetchFailed

    async def fetch(url: str):
        raise CardFetchFailed("the server answered 404 Not Found")

    chat = Transcript(make_service(db, fetch_card=fetch))
    await chat.say("name: Ocean, url: https://example.org/ocean, hosting: no")
    answer = await chat.say("https://example.org/ocean/README.md")
    assert "404 Not Found" in answer
    assert (await chat.state()).asking == "card"


async def test_typing_other_asks_for_their_own_domain(chat: Transcript) -> None:
    await chat.say("name: X, url: https://example.org/x, hosting: no, modalities: text")
    await chat.upload("README.md", CARD)
    answer = await chat.say("Other")
    assert "Which domain would you suggest?" in answer
    answer = await chat.say("Astro-ornithology")
    assert "Astro-ornithology" in answer
    answer = await chat.say("yes")
    assert "Domain: Astro-ornithology (your suggestion)" in answer
    answer = await chat.say("change domain to other industrial")
    assert "Domain: Other Industrial" in answer
