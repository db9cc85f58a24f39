"""Outbound calls go through the outbox; Slack's rate limits and outages delay, never lose."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from core.outbox import OutboxWorker
from core.storage.models import utcnow
from tests.bot.conftest import ADA, SlackHarness, eventually


def later(seconds: float) -> Callable[[], datetime]:
    """A worker clock ``seconds`` ahead: what is due then, without waiting for it."""
    return lambda: utcnow() + timedelta(seconds=seconds)


async def test_429_then_200_delivers_one_message(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", 429, retry_after=1)
    await slack.say(ADA, "hello", "name of the dataset")
    assert [c.status for c in slack.fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(slack.fake.messages) == 1
    await eventually(slack.all_delivered)
    [row] = await slack.outbox()
    assert row.attempts == 1  # waited in place: a one-second Retry-After is not worth a trip


async def test_a_long_retry_after_goes_back_to_the_outbox(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", 429, retry_after=120)
    await slack.sender.event(slack.sender.dm(ADA, "hello"))

    async def waiting() -> bool:
        rows = await slack.outbox()
        return bool(rows) and rows[0].status == "pending" and rows[0].attempts == 1

    await eventually(waiting)
    [row] = await slack.outbox()
    assert "rate limit" in (row.last_error or "")
    wait = row.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(seconds=100) < wait <= timedelta(seconds=120)
    assert slack.fake.messages == []

    worker = OutboxWorker(slack.db, slack.runtime.deliverers, clock=later(121))
    assert await worker.run_once() == 1
    assert len(slack.fake.messages) == 1 and "name of the dataset" in slack.fake.messages[0].text


async def test_a_server_error_is_retried_with_backoff(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", 500)
    await slack.sender.event(slack.sender.dm(ADA, "hello"))

    async def failed_once() -> bool:
        rows = await slack.outbox()
        return bool(rows) and rows[0].status == "pending" and rows[0].attempts >= 1

    await eventually(failed_once)
    [row] = await slack.outbox()
    wait = row.next_attempt_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    # The first retry comes a minute later (the outbox's MTA-like schedule), not at once.
    assert timedelta(seconds=50) < wait <= timedelta(seconds=60)
    assert await OutboxWorker(slack.db, slack.runtime.deliverers,
                              clock=later(30)).run_once() == 0  # not due yet
    worker = OutboxWorker(slack.db, slack.runtime.deliverers, clock=later(61))
    assert await worker.run_once() == 1
    assert await eventually(slack.all_delivered)
    assert [c.status for c in slack.fake.calls_to("chat.postMessage")] == [500, 200]


async def test_an_error_retrying_cannot_fix_is_dead_at_once(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", error="is_archived")
    await slack.sender.event(slack.sender.dm(ADA, "hello"))

    async def dead() -> bool:
        rows = await slack.outbox()
        return bool(rows) and rows[0].status == "dead"

    await eventually(dead)
    assert slack.metric("intake_slack_deliveries_total", "result", "permanentfailure") == 1


async def test_a_reply_posted_before_a_crash_is_not_posted_again(slack: SlackHarness) -> None:
    """The worker died after Slack took the post but before it was marked sent: the
    retry finds its own earlier post (its outbox id in the message metadata) and stops."""
    from dataclasses import replace

    await slack.say(ADA, "hello", "name of the dataset")
    await eventually(slack.all_delivered)
    [row] = await slack.outbox()
    [posted] = slack.fake.dms(ADA)
    assert posted.metadata == {"event_type": "otdi_outbox_message",
                               "event_payload": {"outbox_id": row.id}}
    from core.outbox import OutboundRecord

    again = OutboundRecord(row.id, row.channel, row.recipient, row.submission_id,
                           dict(row.payload), row.attempts)
    deliver = slack.runtime.deliverers["slack"]
    await deliver(replace(again, attempts=2))  # the retry after the crash
    assert len(slack.fake.dms(ADA)) == 1
    assert slack.fake.calls_to("conversations.history")  # it looked before posting
    await deliver(replace(again, id=row.id + 1000, attempts=2))  # a different message
    assert len(slack.fake.dms(ADA)) == 2
