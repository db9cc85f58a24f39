"""The /contribute command and the global shortcut: the whole form in a modal, same submission."""

from __future__ import annotations

from typing import Any

from tests.bot.conftest import ADA, CARD, HOSTING, SlackHarness, eventually


def filled(slack: SlackHarness, **changes: Any) -> dict[str, Any]:
    card = slack.fake.add_file("README.md", CARD)
    answers: dict[str, Any] = {
        "name": "Ocean <!channel> Temperatures", "location": "https://example.org/ocean",
        "hosting": "self", "card": [card], "modalities": ["Text Only", "Video (including audio)"],
        "domain": "Marine", "email": "ada@example.org", "consent": ["yes"]}
    answers.update(changes)
    return {key: value for key, value in answers.items() if value is not None}


async def open_form(slack: SlackHarness, how: str = "command", text: str = ""
                    ) -> dict[str, Any]:
    before = len(slack.fake.calls_to("views.open"))
    if how == "command":
        answer = await slack.sender.command("/contribute", ADA, text=text)
    else:
        answer = await slack.sender.shortcut("otdi_contribute", ADA)
    assert answer.status == 200 and answer.text == ""
    await slack.fake.wait_for(lambda: slack.fake.calls_to("views.open")[before:])
    return list(slack.fake.views.values())[-1]  # as Slack keeps it: with its id


async def test_the_form_ends_in_the_same_submission(slack: SlackHarness) -> None:
    view = await open_form(slack)
    assert view["callback_id"] == "otdi_contribute_form"
    email = next(b for b in view["blocks"] if b.get("block_id") == "email")
    assert email["element"]["initial_value"] == "ada@example.org"  # from users.info

    answer = await slack.sender.submit_view(view, ADA, filled(slack))
    assert answer.status == 200
    assert answer.json()["response_action"] == "update"  # "check your DM"
    done = await slack.fake.wait_for_dm(ADA, "OTDI-0001")
    [submission] = await slack.submissions()
    assert (submission.name, submission.hosting, submission.domain, submission.modalities) == (
        "Ocean <!channel> Temperatures", "self", "Marine", ["Text Only", "Video (including audio)"])
    await eventually(slack.all_delivered)
    # The form is one DM: what was understood, the summary and the reference together,
    # with no leftover question or button from the turns in between.
    assert [m.ts for m in slack.fake.dms(ADA)] == [done.ts]
    assert "Here is your contribution" in done.all_text
    assert "Ocean &lt;!channel&gt; Temperatures" in done.all_text
    assert "<!channel>" not in done.all_text
    assert not [b for b in done.blocks if b["type"] == "actions"]
    assert len(await slack.submissions()) == 1


async def test_mistakes_are_shown_under_their_fields(slack: SlackHarness) -> None:
    view = await open_form(slack, "shortcut")
    logged = await slack.inbound_ids()  # the shortcut (it opened the form), nothing else
    answer = await slack.sender.submit_view(view, ADA, filled(
        slack, location="http://example.org/ocean", consent=[], card=None,
        domain="other", domain_other=None))
    body = answer.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"location", "consent", "card", "domain_other"}
    assert "https://example.org/ocean" in body["errors"]["location"]
    assert await slack.inbound_ids() == logged and await slack.outbox() == []


async def test_a_card_too_large_for_the_form(slack: SlackHarness) -> None:
    view = await open_form(slack)
    big = slack.fake.add_file("README.md", b"x", size=slack.runtime.settings.max_card_bytes + 1)
    answer = await slack.sender.submit_view(view, ADA, filled(slack, card=[big]))
    assert set(answer.json()["errors"]) == {"card"}
    assert slack.fake.downloads == []


async def test_their_own_domain_and_a_second_contribution(slack: SlackHarness) -> None:
    view = await open_form(slack)
    await slack.sender.submit_view(view, ADA, filled(slack))
    await slack.fake.wait_for_dm(ADA, "OTDI-0001")
    view = await open_form(slack)
    answer = await slack.sender.submit_view(view, ADA, filled(
        slack, name="Stars", domain="other", domain_other="Astrophysics"))
    assert answer.json()["response_action"] == "update"
    await slack.fake.wait_for_dm(ADA, "OTDI-0002")
    second = (await slack.submissions())[1]
    assert (second.name, second.domain, second.domain_is_suggestion) == (
        "Stars", "Astrophysics", True)


async def test_the_form_is_filled_in_from_the_draft(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Ocean, url: https://example.org/ocean, domain: climate",
                    HOSTING)
    view = await open_form(slack)
    initial = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert initial["name"]["initial_value"] == "Ocean"
    assert initial["location"]["initial_value"] == "https://example.org/ocean"
    assert initial["domain"]["initial_option"]["value"] == "Climate"


async def test_words_typed_with_the_command_fill_the_form_in(slack: SlackHarness) -> None:
    """``/contribute Ocean Temperatures https://...``: what the words plainly answer is
    shown in the form to be checked; a word that may belong to the name is not a guess."""
    await slack.say(ADA, "name: Old Name, domain: climate", "https://")
    view = await open_form(slack, text="Ocean Images <https://example.org/ocean>")
    initial = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert initial["name"]["initial_value"] == "Ocean Images"  # typed: over the draft
    assert initial["location"]["initial_value"] == "https://example.org/ocean"
    assert initial["domain"]["initial_option"]["value"] == "Climate"  # the draft's
    assert "initial_options" not in initial["modalities"]  # "Images" was the name
    labelled = await open_form(slack, text="name: Buoys, domain: marine, hosting: no")
    initial = {b["block_id"]: b["element"] for b in labelled["blocks"]
               if b["type"] == "input"}
    assert initial["name"]["initial_value"] == "Buoys"
    assert initial["domain"]["initial_option"]["value"] == "Marine"
    assert initial["hosting"]["initial_option"]["value"] == "self"
    assert (await slack.state(ADA)).answers.name == "Old Name"  # nothing stored yet


async def test_an_expired_trigger_is_explained_in_the_dm(slack: SlackHarness) -> None:
    slack.fake.expired_triggers.add("trigger-late")
    await slack.sender.command("/contribute", ADA, trigger_id="trigger-late")
    await slack.fake.wait_for_dm(ADA, "could not open the contribution form")

