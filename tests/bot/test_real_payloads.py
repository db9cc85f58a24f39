"""Requests as real Slack sends them (tests/data/slack/*.json, each with its source), signed
and sent to the running app: edits and deletions, other subtypes, rich text, snippets, an
Enterprise Grid install, reviewers' thread replies, and requests the app does not act on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.handler import contributor_words
from bot.text import message_text
from core.storage.models import LoggedEvent, OutboxMessage
from tests.bot.conftest import ADA, CARD, HOSTING, SlackHarness, eventually
from tests.bot.test_review_thread import REVIEW, RITA, review, submit, thread_ready

__all__ = ["review"]  # the fixture, used by name
DATA = Path(__file__).resolve().parents[1] / "data" / "slack"


def payload(name: str, **placeholders: str) -> dict[str, Any]:
    """A stored request body, with ``{parent}``-style placeholders filled in."""
    text = (DATA / name).read_text()
    for key, value in placeholders.items():
        text = text.replace("{" + key + "}", value)
    return dict(json.loads(text)["body"])


async def send(slack: SlackHarness, body: dict[str, Any], retry_num: int | None = None) -> None:
    extra = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} \
        if retry_num else None
    if body.get("type") == "event_callback":
        answer = await slack.sender.post(json.dumps(body), "application/json", extra=extra)
    else:
        answer = await slack.sender.interactive(body)
    assert answer.status == 200, answer.text


async def settled(slack: SlackHarness) -> list[str | None]:
    """Once every logged request was processed and every message sent: their outcomes."""
    async def done() -> bool:
        async with slack.db.transaction() as session:
            events = (await session.scalars(select(LoggedEvent.status))).all()
            sent = (await session.scalars(select(OutboxMessage.status))).all()
        return "pending" not in events and all(status == "sent" for status in sent)

    await eventually(done)
    async with slack.db.transaction() as session:
        return list((await session.scalars(select(LoggedEvent.outcome)
                                           .order_by(LoggedEvent.id))).all())


def with_fake_file(slack: SlackHarness, body: dict[str, Any], data: bytes) -> dict[str, Any]:
    """The stored file object, pointing at a file the fake serves (its id, urls, size)."""
    file = body["event"]["files"][0]
    served = slack.fake.add_file(file["name"], data, file["mimetype"])
    file.update({key: served[key] for key in ("id", "url_private", "url_private_download",
                                              "size")})
    return body


async def test_an_edit_is_answered_once_and_an_unchanged_one_is_not(slack: SlackHarness
                                                                    ) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    await send(slack, payload("dm_message.json"))
    await slack.fake.wait_for_dm(ADA, "https://")
    before = slack.seen(ADA)
    edit = payload("dm_message_changed.json")
    await send(slack, edit)
    await send(slack, edit, retry_num=1)  # Slack's retry: the same event_id
    await send(slack, payload("dm_message_changed_unfurl.json"))  # a link preview added
    note = await slack.fake.wait_for_dm(ADA, "You edited a message", after=before)
    assert "change the name to" in note.all_text
    assert await settled(slack) == ["message", "message", "dm_edited"]  # unfurl not logged
    assert slack.seen(ADA) == before + 1
    assert (await slack.state(ADA)).answers.name == "Ocen Temperatures"  # kept, as said

    await send(slack, payload("dm_message_deleted.json"))
    await slack.fake.wait_for_dm(ADA, "You deleted a message", after=before + 1)


async def test_me_messages_and_broadcast_thread_replies_are_answers(slack: SlackHarness
                                                                    ) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    await send(slack, payload("dm_me_message.json"))
    await send(slack, payload("dm_bot_message.json"))  # another app's post: not Ada's words
    await send(slack, payload("dm_thread_broadcast.json"))
    await slack.fake.wait_for_dm(ADA, HOSTING)
    answers = (await slack.state(ADA)).answers
    assert (answers.name, answers.location) == ("Ocean Temperatures", "https://example.org/ocean")
    assert (await settled(slack))[1:] == ["message", "message"]  # the bot's was not logged
    assert len(slack.fake.dms(ADA)) == 3


async def test_rich_text_is_read_without_quotes_and_emoji(slack: SlackHarness) -> None:
    await slack.say(ADA, "hello", "name of the dataset")
    await send(slack, payload("dm_rich_text_only.json"))  # no text at all, only blocks
    await slack.fake.wait_for_dm(ADA, "Where can the dataset be found")
    await send(slack, payload("dm_rich_text_mixed.json"))  # the question quoted above
    await slack.fake.wait_for_dm(ADA, HOSTING)
    answers = (await slack.state(ADA)).answers
    assert (answers.name, answers.location) == ("Ocean Temperatures", "https://example.org/ocean")


async def test_a_snippet_is_read_as_the_card(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Ocean, url: https://example.org/ocean, hosting: no",
                    "dataset card")
    before = slack.seen(ADA)
    await send(slack, with_fake_file(slack, payload("dm_file_share_snippet.json"), CARD))
    reply = await slack.fake.wait_for_dm(ADA, "modalities", after=before)
    assert "Untitled.md" in reply.all_text and "passes" in reply.all_text


async def test_of_several_files_the_readme_is_the_card(slack: SlackHarness) -> None:
    await slack.say(ADA, "name: Ocean, url: https://example.org/ocean, hosting: no",
                    "dataset card")
    before = slack.seen(ADA)
    files = [slack.fake.add_file("NOTES.md", b"# notes\n"), slack.fake.add_file("README.md", CARD)]
    await slack.sender.event(slack.sender.dm(ADA, files=files))
    reply = await slack.fake.wait_for_dm(ADA, "modalities", after=before)
    assert "NOTES.md" in reply.all_text and "passes" in reply.all_text


async def test_an_enterprise_grid_user_without_an_email_is_answered(slack: SlackHarness
                                                                    ) -> None:
    slack.fake.add_user("W0GRACE", None, name="grace")
    await send(slack, payload("grid_dm_message.json"))
    await slack.fake.wait_for_dm("W0GRACE", "name of the dataset")
    assert await settled(slack) == ["message"]


async def test_requests_the_app_does_not_act_on_are_answered_200(slack: SlackHarness) -> None:
    for name in ("member_joined_channel.json", "view_closed.json",
                 "block_actions_link_button.json"):
        await send(slack, payload(name))
    assert slack.metric("intake_slack_events_total", "kind", "unhandled") == 3
    assert await slack.inbound_ids() == [] and slack.fake.messages == []


async def test_reviewers_replies_as_slack_sends_them(review: SlackHarness) -> None:
    fake = review.fake
    await submit(review)
    parent = await thread_ready(review)

    # A mention of the bot and the bold prefix copied from the parent still address Ada.
    before = review.seen(ADA)
    await send(review, payload("review_reply_mention_bold.json", parent=parent.ts))
    question = await fake.wait_for_dm(ADA, "which licence does the data have?", after=before)
    assert "to contributor" not in question.all_text

    # Its edit is not passed on; the reviewer is told, in the thread, and only them.
    await send(review, payload("review_reply_changed.json", parent=parent.ts))
    edited = await fake.wait_for(lambda: next(
        (e for e in fake.ephemeral if "You edited a reply" in e["text"]), None))
    assert (edited["user"], edited["thread_ts"]) == (RITA, parent.ts)

    # A reply with a file: the words go, and the reviewer hears the file did not.
    body = with_fake_file(review, payload("review_reply_file_share.json", parent=parent.ts),
                          b"# template\n")
    await send(review, body)
    await fake.wait_for_dm(ADA, "please fill in this template", after=before)
    note = await fake.wait_for(lambda: next(
        (e for e in fake.ephemeral if "template.md" in e["text"]), None))
    assert note["user"] == RITA

    # "Approve" typed in the thread is talk among reviewers: no decision, nothing sent.
    await send(review, payload("review_reply_approve.json", parent=parent.ts))
    await eventually(lambda: review.metric("intake_slack_events_total", "kind",
                                           "review_chatter") == 1)
    await settled(review)
    [submission] = await review.submissions()
    assert submission.status == "in_review"
    assert review.seen(ADA) == before + 2
    assert [m for m in fake.in_channel(REVIEW)] == [parent]


def test_the_words_of_a_message_whatever_slack_wraps_them_in() -> None:
    """The rules behind the payloads above, one line each."""
    assert message_text({"text": "&gt; What is the name?\nOcean :ocean: data"}) == "Ocean data"
    assert message_text({"text": "&gt; Ocean Temperatures"}) == "Ocean Temperatures"
    assert message_text({"text": "at 10:30:00, name: x"}) == "at 10:30:00, name: x"
    assert message_text({"text": "yes :+1::skin-tone-3:"}) == "yes"
    assert message_text({"text": "<mailto:ada@example.org|ada@example.org>"}) == \
        "ada@example.org"
    listed = {"text": "", "blocks": [{"type": "rich_text", "elements": [
        {"type": "rich_text_list", "style": "bullet", "elements": [
            {"type": "rich_text_section", "elements": [{"type": "text", "text": "name: Ocean"}]},
            {"type": "rich_text_section", "elements": [
                {"type": "text", "text": "url: "},
                {"type": "link", "url": "https://example.org/o", "text": "o"}]}]},
        {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": "hosting: no"}]},
    ]}]}
    assert message_text(listed) == "name: Ocean\nurl: https://example.org/o\nhosting: no"
    for reply in ("to contributor: why?", "To Contributor: why?", "*to contributor:* why?",
                  "@UBOT to contributor: why?", "_To contributor:_  why?"):
        assert contributor_words(reply) == "why?", reply
    assert contributor_words("approve") is None
    assert contributor_words("I'd say to contributor: no") is None
