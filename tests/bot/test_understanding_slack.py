"""A Slack DM written as people write: prose (with Slack's own link markup), corrections,
an early "I agree", cancel and undo; signed requests to the real Bolt app, the fake Slack
answering (tests/bot/conftest.py)."""

from __future__ import annotations

from core.conversation import Answers, DomainAnswer
from tests.bot.conftest import ADA, CARD, HOSTING, SlackHarness


async def test_prose_in_a_dm_is_confirmed_with_a_button(slack: SlackHarness) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    understood = await slack.say(
        ADA, "My dataset is called Coral Reef Images and you can find it at "
             "<http://example.org/coral>", "I understood")
    assert "name Coral Reef Images, location https://example.org/coral. Right?" in \
        understood.all_text
    assert (await slack.state(ADA)).answers.name is None
    hosting = await slack.click(understood, ADA, HOSTING, value="yes")
    assert "Dataset name: Coral Reef Images" in hosting.all_text
    assert (await slack.state(ADA)).answers.location == "https://example.org/coral"

    answer = await slack.say(ADA, "wait, the name is wrong, it should just be Coral Reefs",
                             "Dataset name: Coral Reefs")
    assert HOSTING in answer.all_text  # the open question again
    await slack.say(ADA, "no, we keep our own", "dataset card")
    await slack.upload(ADA, "README.md", CARD, "modalities")
    await slack.say(ADA, "text", "domain")
    answer = await slack.say(ADA, "Actually no - change the domain to Marine", "Domain: Marine")
    assert "your suggestion" not in answer.all_text
    await slack.say(ADA, "oh right, it's <mailto:dana@example.org|dana@example.org>",
                    "Contact e-mail: dana@example.org")
    state = await slack.state(ADA)
    assert state.answers.domain == DomainAnswer(value="Marine", is_suggestion=False)
    assert state.answers.name == "Coral Reefs"


async def test_an_early_i_agree_in_slack_shows_the_terms(slack: SlackHarness) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    answer = await slack.say(ADA, "I agree", "CDLA-Permissive-2.0")
    assert "Before I record your agreement" in answer.all_text
    assert (await slack.state(ADA)).answers == Answers()


async def test_cancel_is_confirmed_by_button_and_undone(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Reef, url: https://example.org/reef", HOSTING)
    question = await slack.say(ADA, "cancel", "Cancel this contribution?")
    await slack.click(question, ADA, "Cancelled", value="yes")
    assert (await slack.state(ADA)).phase == "cancelled"
    back = await slack.say(ADA, "undo", "not cancelled")
    assert HOSTING in back.all_text
    assert (await slack.state(ADA)).answers.name == "Reef"
