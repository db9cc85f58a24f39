"""What reaches the app: signatures, retries, bots, and contributor text that looks like markup."""

from __future__ import annotations

import json
import time

from tests.bot.conftest import ADA, HOSTING, SlackHarness, eventually


async def test_a_bad_signature_or_a_stale_timestamp_is_refused(slack: SlackHarness) -> None:
    event = slack.sender.dm(ADA, "hello")
    forged = await slack.sender.event(event, secret="not-the-secret")
    stale = await slack.sender.event(event, timestamp=int(time.time()) - 6 * 60)
    unsigned = await slack.sender.session.post(slack.sender.url, json=slack.sender.envelope(event))
    assert (forged.status, stale.status, unsigned.status) == (401, 401, 401)
    assert await slack.inbound_ids() == []
    assert slack.fake.calls == []  # not even auth.test: nothing was processed
    assert await slack.outbox() == []


async def test_the_same_event_three_times_has_one_effect(slack: SlackHarness) -> None:
    event = slack.sender.dm(ADA, "hello")
    answers = [await slack.sender.event(event, event_id="Ev0001"),
               await slack.sender.event(event, event_id="Ev0001", retry_num=1),
               await slack.sender.event(event, event_id="Ev0001", retry_num=2)]
    assert [a.status for a in answers] == [200, 200, 200]
    await slack.fake.wait_for_dm(ADA, "name of the dataset")
    await eventually(lambda: slack.metric("intake_slack_duplicates_total") == 2)
    assert await slack.inbound_ids() == ["Ev0001"]
    assert len(slack.fake.dms(ADA)) == 1
    assert (await slack.state(ADA)).turns == 1


async def test_acknowledged_before_the_work_is_done(slack: SlackHarness) -> None:
    slack.fake.slow("users.info", 0.5)  # the profile look-up hangs; Slack must not wait for it
    answer = await slack.sender.event(slack.sender.dm(ADA, "hello"))
    assert answer.status == 200 and answer.elapsed < 0.4
    await slack.fake.wait_for_dm(ADA, "name of the dataset")


async def test_bots_and_edits_are_ignored(slack: SlackHarness) -> None:
    ignored = [
        slack.sender.dm("UBOT", "my own reply"),  # the bot itself (Bolt drops it)
        slack.sender.dm("UOTHER", "beep", bot_id="B999", subtype="bot_message"),
        slack.sender.dm(ADA, "edited", subtype="message_changed"),
        {**slack.sender.dm(ADA, "in a channel"), "channel_type": "channel"},
    ]
    for event in ignored:
        assert (await slack.sender.event(event)).status == 200
    await slack.say(ADA, "hello", "name of the dataset")  # processed after the others
    await eventually(lambda: slack.metric("intake_slack_events_total", "kind", "message") == 1)
    assert len(await slack.inbound_ids()) == 1
    assert [m.channel for m in slack.fake.messages] == ["DUADA"]


async def test_markup_in_a_dataset_name_is_shown_harmlessly(slack: SlackHarness) -> None:
    # Typed literally, Slack sends entities; a real @channel arrives as <!channel>.
    reply = await slack.say(ADA, "name: Ocean &lt;!channel&gt; &amp; <!here> <https://x.example|y>",
                            "Dataset name")
    posted = json.dumps({"text": reply.text, "blocks": reply.blocks})
    assert "Ocean &lt;!channel&gt; &amp; @here https://x.example" in reply.all_text
    assert "<!channel>" not in posted and "<!here>" not in posted and "<https" not in posted
    assert (await slack.state(ADA)).answers.name == "Ocean <!channel> & @here https://x.example"


async def test_concurrent_messages_of_one_person_are_taken_in_order(slack: SlackHarness
                                                                    ) -> None:
    events = [slack.sender.dm(ADA, text) for text in
              ("hello", "Ocean", "https://example.org/ocean")]
    for event in events:
        assert (await slack.sender.event(event)).status == 200
    await slack.fake.wait_for_dm(ADA, HOSTING)
    state = await slack.state(ADA)
    assert (state.answers.name, state.answers.location) == (
        "Ocean", "https://example.org/ocean")
