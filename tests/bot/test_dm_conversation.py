"""A contributor's whole conversation in a DM, over HTTP against the fake Slack."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from core.storage.models import CardVersion
from tests.bot.conftest import ADA, CARD, HOSTING, SlackHarness, eventually


async def test_buttons_and_a_card_upload_end_in_a_submission(slack: SlackHarness) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    await slack.say(ADA, "Ocean Temperatures", "https://")
    hosting = await slack.say(ADA, "https://huggingface.co/datasets/example/ocean-temps",
                              HOSTING)
    card_question = await slack.click(hosting, ADA, "dataset card", value="alliance")
    assert "Hosting: Yes, the AI Alliance hosts it" in card_question.all_text
    await slack.fake.wait_for(lambda: hosting.updates)
    assert "Yes, the AI Alliance hosts it" in hosting.all_text
    assert not any(b["type"] == "actions" for b in hosting.blocks)  # cannot be clicked again

    modalities = await slack.upload(ADA, "README.md", CARD, "modalities")
    assert "passes" in modalities.all_text
    assert slack.fake.downloads[-1].token == "xoxb-test"
    domain = await slack.click(modalities, ADA, "domain", checked=["Text Only", "Images"])
    assert "Modalities: Text Only, Images" in domain.all_text
    email = await slack.click(domain, ADA, "e-mail", option="Marine")
    assert "ada@example.org" in email.all_text  # offered from the Slack profile
    consent = await slack.click(email, ADA, "terms", value="ada@example.org")
    confirm = await slack.click(consent, ADA, "Here is your contribution", value="yes")
    done = await slack.click(confirm, ADA, "OTDI-0001", value="yes")
    assert "Thank you" in done.all_text

    [submission] = await slack.submissions()
    assert (submission.reference, submission.name, submission.hosting, submission.domain,
            submission.email, submission.channel, submission.contributor_id) == (
        "OTDI-0001", "Ocean Temperatures", "alliance", "Marine", "ada@example.org", "slack",
        ADA)
    assert submission.modalities == ["Text Only", "Images"]
    async with slack.db.transaction() as session:
        card = await session.scalar(select(CardVersion))
        assert card is not None and card.content == CARD
    await slack.fake.wait_for(lambda: confirm.updates)
    assert await eventually(slack.all_delivered)


async def test_typing_only(slack: SlackHarness) -> None:
    await slack.say(ADA, "hi, I have a dataset", "name of the dataset")
    await slack.say(ADA, "Ocean Temperatures", "https://")
    # Slack wraps links it recognises: <https://...> is what the event carries.
    await slack.say(ADA, "<https://huggingface.co/datasets/example/ocean-temps>", HOSTING)
    await slack.say(ADA, "no, we keep our own", "dataset card")
    await slack.upload(ADA, "README.md", CARD, "modalities")
    await slack.say(ADA, "text only", "domain")
    await slack.say(ADA, "time series", "e-mail")
    await slack.say(ADA, "yes", "terms")  # "yes" takes the offered profile address
    await slack.say(ADA, "I agree", "Here is your contribution")
    await slack.say(ADA, "yes", "OTDI-0001")
    [submission] = await slack.submissions()
    assert submission.email == "ada@example.org"
    assert submission.location == "https://huggingface.co/datasets/example/ocean-temps"
    assert (submission.hosting, submission.domain) == ("self", "Time Series")



async def test_an_old_question_cannot_be_answered_again(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Ocean, url: https://example.org/ocean", HOSTING)
    hosting = slack.fake.dms(ADA)[-1]
    await slack.say(ADA, "help", HOSTING)  # the question is asked again: the old one is stale
    again = slack.fake.dms(ADA)[-1]
    answer = await slack.sender.click(hosting, ADA, value="self")
    assert answer.status == 200
    await slack.fake.wait_for(lambda: hosting.updates)
    assert "question is closed" in hosting.all_text
    assert not any(b["type"] == "actions" for b in hosting.blocks)
    assert (await slack.state(ADA)).answers.hosting is None  # the stale click did nothing
    assert slack.seen(ADA) == 2

    # A double click: two payloads from the same rendered message, the second "alliance".
    first = slack.sender.block_actions(again, ADA, value="self")
    second = slack.sender.block_actions(again, ADA, value="alliance")
    answers = await asyncio.gather(slack.sender.interactive(first),
                                   slack.sender.interactive(second))
    assert [a.status for a in answers] == [200, 200]
    await slack.fake.wait_for_dm(ADA, "dataset card", after=2)
    await slack.fake.wait_for(lambda: again.updates)
    await eventually(lambda: slack.metric("intake_slack_duplicates_total"))
    assert slack.seen(ADA) == 3
    assert (await slack.state(ADA)).answers.hosting == "self"


async def test_other_domain_asks_for_their_own(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Stars, url: https://example.org/s, hosting: no, "
                         "modalities: images", "dataset card")
    domain = await slack.upload(ADA, "README.md", CARD, "domain")
    await slack.click(domain, ADA, "suggest", option="other")
    confirm = await slack.say(ADA, "Astrophysics", "Astrophysics")
    assert any(e.get("value") == "yes" for b in confirm.blocks if b["type"] == "actions"
               for e in b["elements"])
    await slack.click(confirm, ADA, "Domain: Astrophysics (your suggestion)", value="yes")
