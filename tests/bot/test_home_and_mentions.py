"""The App Home tab and a mention in a channel."""

from __future__ import annotations

import json

from tests.bot.conftest import ADA, SlackHarness
from tests.bot.test_form import filled, open_form


async def test_the_home_tab_lists_submissions_and_their_status(slack: SlackHarness) -> None:
    view = await open_form(slack)
    await slack.sender.submit_view(view, ADA, filled(slack))
    await slack.fake.wait_for_dm(ADA, "OTDI-0001")
    await slack.say(ADA, "new", "name of the dataset")  # a second one in progress

    opened = {"type": "app_home_opened", "user": ADA, "channel": "DUADA", "tab": "home",
              "event_ts": "1.0"}
    assert (await slack.sender.event(opened)).status == 200
    home = await slack.fake.wait_for(lambda: slack.fake.home.get(ADA))
    text = json.dumps(home)
    assert "OTDI-0001" in text and "waiting for review" in text
    assert "Ocean &lt;!channel&gt; Temperatures" in text and "<!channel>" not in text
    assert "0 of 8" in text  # the new draft

    button = home["blocks"][-1]["elements"][0]
    payload = {"type": "block_actions", "user": {"id": ADA}, "team": {"id": "T1"},
               "api_app_id": "A1", "trigger_id": "trigger-home",
               "container": {"type": "view", "view_id": "VHOME"},
               "actions": [{**button, "block_id": "home", "action_ts": "1"}]}
    assert (await slack.sender.interactive(payload)).status == 200
    await slack.fake.wait_for(lambda: any(c.args.get("trigger_id") == "trigger-home"
                                          for c in slack.fake.calls_to("views.open")))


async def test_the_first_opening_of_the_dm_is_greeted_once(slack: SlackHarness) -> None:
    opened = {"type": "app_home_opened", "user": ADA, "channel": "DUADA", "tab": "messages",
              "event_ts": "1.0"}
    await slack.sender.event(opened)
    await slack.fake.wait_for_dm(ADA, "name of the dataset")
    await slack.sender.event(opened)  # known by now: no second greeting
    await slack.say(ADA, "Ocean", "https://")
    assert len(slack.fake.dms(ADA)) == 2


async def test_a_mention_answers_in_the_thread_and_moves_to_the_dm(slack: SlackHarness
                                                                   ) -> None:
    mention = {"type": "app_mention", "user": ADA, "channel": "CGENERAL",
               "text": "<@UBOT> I'd like to contribute a dataset", "ts": "1700000001.000100",
               "event_ts": "1700000001.000100"}
    assert (await slack.sender.event(mention)).status == 200
    await slack.fake.wait_for_dm(ADA, "name of the dataset")
    thread = await slack.fake.wait_for(lambda: [m for m in slack.fake.messages
                                                if m.channel == "CGENERAL"])
    assert thread[0].thread_ts == "1700000001.000100"
    assert "<@UADA>" in thread[0].text and "direct message" in thread[0].text
