"""A person who answers inside a thread of the DM is answered in that thread.

Slack's clients let anyone reply in a thread of a bot's message; an answer posted at
the top of the DM is easy to miss from the thread view. The event carries ``thread_ts``
(the thread's parent) and a click in a thread carries it in ``container``.
"""

from __future__ import annotations

from core.outbox import OutboundRecord
from tests.bot.conftest import ADA, HOSTING, SlackHarness, eventually


async def test_answers_follow_the_person_into_a_thread_and_back_out(
        slack: SlackHarness) -> None:
    name_question = await slack.say(ADA, "hello", "name of the dataset")
    assert name_question.thread_ts is None
    in_thread = await slack.say(ADA, "Ocean Temperatures", "https://",
                                thread_ts=name_question.ts)
    assert in_thread.thread_ts == name_question.ts
    hosting = await slack.say(ADA, "https://example.org/ocean", HOSTING,
                              thread_ts=name_question.ts)
    assert hosting.thread_ts == name_question.ts
    card_question = await slack.click(hosting, ADA, "dataset card", value="alliance")
    assert card_question.thread_ts == name_question.ts  # a click in the thread stays there
    top = await slack.say(ADA, "status", "3 of 8 answers given")  # at the top level again
    assert top.thread_ts is None
    assert (await slack.state(ADA)).answers.hosting == "alliance"
    assert await eventually(slack.all_delivered)


async def test_a_thread_reply_posted_before_a_crash_is_not_posted_again(
        slack: SlackHarness) -> None:
    """The retry after a crash looks for its earlier post among the thread's replies
    (``conversations.replies``): a thread's messages are not in the channel's history."""
    question = await slack.say(ADA, "hello", "name of the dataset")
    await slack.say(ADA, "Ocean Temperatures", "https://", thread_ts=question.ts)
    await eventually(slack.all_delivered)
    row = (await slack.outbox())[-1]
    assert row.payload["slack"] == {"thread_ts": question.ts}
    record = OutboundRecord(row.id, row.channel, row.recipient, row.submission_id,
                            dict(row.payload), 2)  # the retry after the crash
    await slack.runtime.deliverers["slack"](record)
    assert len([m for m in slack.fake.dms(ADA) if m.thread_ts == question.ts]) == 1
    assert slack.fake.calls_to("conversations.replies")
