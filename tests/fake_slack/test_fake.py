"""The fake answers like Slack: argument encodings, auth, file downloads, injected failures."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fake_slack import FakeSlack


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    server.add_user("UADA", "ada@example.org")
    try:
        yield server
    finally:
        await server.stop()


def client(fake: FakeSlack, token: str = "xoxb-test") -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=fake.api_url, retry_handlers=[])


async def test_query_form_and_json_arguments_are_all_read(fake: FakeSlack) -> None:
    web = client(fake)
    channel = (await web.conversations_open(users="UADA"))["channel"]["id"]  # query string
    assert (await web.users_info(user="UADA"))["user"]["profile"]["email"] == "ada@example.org"
    posted = await web.chat_postMessage(channel=channel, text="hi",  # JSON body
                                        blocks=[{"type": "section", "text": {
                                            "type": "mrkdwn", "text": "hi"}}])
    await web.chat_update(channel=channel, ts=posted["ts"], text="bye", blocks=[])
    assert [m.text for m in fake.dms("UADA")] == ["bye"]
    assert [c.method for c in fake.calls] == ["conversations.open", "users.info",
                                              "chat.postMessage", "chat.update"]
    with pytest.raises(SlackApiError) as refused:
        await client(fake, "xoxb-wrong").auth_test()
    assert refused.value.response["error"] == "invalid_auth"


async def test_block_kit_limits_are_enforced(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as refused:
        await client(fake).chat_postMessage(channel="DUADA", text="x", blocks=[
            {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}])
    assert refused.value.response["error"] == "invalid_blocks"


async def test_downloads_need_the_bot_token(fake: FakeSlack) -> None:
    file = fake.add_file("README.md", b"# card\n")
    async with aiohttp.ClientSession() as session:
        async with session.get(file["url_private_download"]) as anonymous:
            assert anonymous.status == 200 and anonymous.content_type == "text/html"
        async with session.get(file["url_private_download"],
                               headers={"Authorization": "Bearer xoxb-test"}) as response:
            assert await response.read() == b"# card\n"
    assert [d.token for d in fake.downloads] == [None, "xoxb-test"]


async def test_failures_on_demand(fake: FakeSlack) -> None:
    fake.fail("chat.postMessage", 429, retry_after=7)
    fake.fail("chat.postMessage", 500)
    web = client(fake)
    for status in (429, 500):
        with pytest.raises(SlackApiError) as failed:
            await web.chat_postMessage(channel="DUADA", text="x")
        assert failed.value.response.status_code == status
        if status == 429:
            assert failed.value.response.headers["Retry-After"] == "7"
    await web.chat_postMessage(channel="DUADA", text="x")
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 500, 200]


async def test_files_upload_v2_shares_the_file_in_the_thread(fake: FakeSlack) -> None:
    web = client(fake)
    parent = await web.chat_postMessage(channel="CREVIEW", text="parent")
    await web.files_upload_v2(channel="CREVIEW", thread_ts=parent["ts"], content=b"# Card\n",
                              filename="README.md", title="README.md")
    assert [c.method for c in fake.calls][1:] == [
        "files.getUploadURLExternal", "files.completeUploadExternal"]  # the POST in between
    [shared] = fake.thread("CREVIEW", parent["ts"])
    assert fake.files[shared.files[0]].data == b"# Card\n"
    assert [m.text for m in fake.in_channel("CREVIEW")] == ["parent"]


async def test_members_are_paginated_and_failures_can_target_a_channel(
        fake: FakeSlack) -> None:
    web = client(fake)
    fake.add_members("CREVIEW", "U1", "U2", "U3")
    first = await web.conversations_members(channel="CREVIEW", limit=2)
    cursor = first["response_metadata"]["next_cursor"]
    second = await web.conversations_members(channel="CREVIEW", limit=2, cursor=cursor)
    assert first["members"] + second["members"] == ["U1", "U2", "U3"]
    assert second["response_metadata"]["next_cursor"] == ""
    fake.fail("chat.postMessage", 500, channel="CREVIEW")
    await web.chat_postMessage(channel="DUADA", text="unaffected")
    with pytest.raises(SlackApiError):
        await web.chat_postMessage(channel="CREVIEW", text="fails once")
    await web.chat_postMessage(channel="CREVIEW", text="then works")
