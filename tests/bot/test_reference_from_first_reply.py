"""In Slack too, the reference is there from the first answer: the small print under
every message of the conversation, a draft's included."""

from __future__ import annotations

from tests.bot.conftest import ADA, SlackHarness


async def test_every_dm_names_the_draft_from_the_first_answer(slack: SlackHarness) -> None:
    first = await slack.say(ADA, "hello", "name of the dataset")
    assert "Reference OTDI-0001" in first.all_text
    second = await slack.say(ADA, "Ocean Temperatures", "https://")
    assert "Reference OTDI-0001" in second.all_text
    other = await slack.say("UBOB", "hello", "name of the dataset")
    assert "Reference OTDI-0002" in other.all_text  # someone else, the next number
