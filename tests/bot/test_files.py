"""The card as a file shared in the DM: size checked first, downloaded with the bot token."""

from __future__ import annotations

from tests.bot.conftest import ADA, CARD, SlackHarness, eventually

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06" + b"\0" * 64


async def asking_for_the_card(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Ocean, url: https://example.org/ocean, hosting: no",
                    "dataset card")


async def test_a_file_too_large_is_not_downloaded(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    limit = slack.runtime.settings.max_card_bytes
    reply = await slack.upload_claiming(ADA, "data.csv", b"a,b\n", size=limit * 3,
                                        expect="MB")
    assert "3.0 MB" in reply.all_text and "1.0 MB" in reply.all_text
    assert slack.fake.downloads == []
    assert (await slack.state(ADA)).asking == "card"


async def test_a_file_that_is_not_text_is_refused(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    reply = await slack.upload(ADA, "README.md", PNG, "could not read", mimetype="image/png")
    assert "dataset card" in reply.all_text  # asked again
    assert (await slack.state(ADA)).asking == "card"


async def test_a_login_page_is_not_taken_for_the_card(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    before = slack.seen(ADA)
    file = slack.fake.add_file("README.md", CARD, login_page=True)
    await slack.sender.event(slack.sender.dm(ADA, files=[file]))
    reply = await slack.fake.wait_for_dm(ADA, "login page", after=before)
    assert "could not fetch" in reply.all_text
    assert (await slack.state(ADA)).card is None


async def test_a_download_error_asks_to_share_again(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    slack.fake.fail("files.download", 500)
    await slack.upload(ADA, "README.md", CARD, "share it again")


async def test_a_partial_file_object_is_completed_with_files_info(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    before = slack.seen(ADA)
    file = slack.fake.add_file("README.md", CARD)
    partial = {"id": file["id"], "file_access": "check_file_info"}
    await slack.sender.event(slack.sender.dm(ADA, files=[partial]))
    await slack.fake.wait_for_dm(ADA, "modalities", after=before)
    assert [c.args["file"] for c in slack.fake.calls_to("files.info")] == [file["id"]]


async def test_a_card_with_a_comment_and_another_file(slack: SlackHarness) -> None:
    await asking_for_the_card(slack)
    before = slack.seen(ADA)
    files = [slack.fake.add_file("photo.png", PNG, "image/png"),
             slack.fake.add_file("README.md", CARD)]
    await slack.sender.event(slack.sender.dm(ADA, "modalities: text", files=files))
    reply = await slack.fake.wait_for_dm(ADA, "Modalities: Text Only", after=before)
    assert "photo.png" in reply.all_text  # said to be unused
    assert "passes" in reply.all_text
    await eventually(lambda: len(slack.fake.downloads) == 1)
