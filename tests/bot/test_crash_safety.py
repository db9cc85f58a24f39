"""What Slack got a 200 for is stored: a process that stops before the work loses nothing.

The first process acknowledges signed requests over HTTP but its event worker never
takes them (as if it died right after each acknowledgement); a fresh process on the
same database does the work: each event exactly once, each answered exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
from sqlalchemy import select

from bot.adapter import WebAdapter
from core.inbound import LogUnavailable, NewEvent
from core.runtime import build_runtime
from core.settings import Settings
from core.storage.database import Database
from core.storage.models import Conversation, LoggedEvent
from tests.bot.conftest import SECRET, SlackHarness, eventually, running, slack_settings
from tests.fake_slack import FakeSlack, SlackSender

USERS = [f"UCRASH{index:02d}" for index in range(12)]


@contextlib.asynccontextmanager
async def acknowledging_only(settings: Settings, db: Database) -> AsyncIterator[SlackSender]:
    """The web adapter answering Slack, with an event worker that never starts work."""
    runtime = build_runtime(settings, db)
    runtime.inbound.listeners.remove(runtime.events.hand_over)  # nothing handed over
    adapter = WebAdapter()
    await adapter.start(runtime)
    try:
        async with aiohttp.ClientSession() as session:
            yield SlackSender(f"http://127.0.0.1:{adapter.port}/slack/events", SECRET, session)
    finally:
        await adapter.stop()
        await runtime.inbound.close()


async def logged(db: Database) -> list[LoggedEvent]:
    async with db.transaction() as session:
        return list((await session.scalars(select(LoggedEvent).where(
            LoggedEvent.channel == "slack").order_by(LoggedEvent.id))).all())


async def test_acknowledged_events_survive_a_stop_before_processing(db: Database,
                                                                    fake: FakeSlack) -> None:
    for user in USERS:
        fake.add_user(user, f"{user.lower()}@example.org")
    settings = slack_settings(db, fake)
    async with acknowledging_only(settings, db) as sender:
        events = [sender.dm(user, "hello") for user in USERS]
        answers = await asyncio.gather(*(sender.event(event, event_id=f"EvC{index:03d}")
                                         for index, event in enumerate(events)))
        assert [a.status for a in answers] == [200] * len(USERS)
        retried = await sender.event(events[0], event_id="EvC000", retry_num=1)
        assert retried.status == 200  # a retry of what is stored: nothing more
    rows = await logged(db)
    assert len(rows) == len(USERS) and {r.status for r in rows} == {"pending"}
    assert fake.messages == []  # acknowledged, not processed

    fresh = Database(db.url)  # a new process on the same database
    try:
        async with running(settings, fresh, fake) as harness:
            await eventually(lambda: all(harness.fake.dms(user) for user in USERS),
                             timeout=20)
            await eventually(harness.all_delivered, timeout=10)
            await harness.runtime.events.wait_idle(10)
            await check_once(harness)
    finally:
        await fresh.dispose()


async def check_once(harness: SlackHarness) -> None:
    rows = await logged(harness.db)
    assert len(rows) == len(USERS)
    assert {r.status for r in rows} == {"done"} and {r.outcome for r in rows} == {"message"}
    async with harness.db.transaction() as session:
        turns = {c.contributor_id: c.state["turns"] for c in
                 (await session.scalars(select(Conversation))).all()}
    assert turns == {user: 1 for user in USERS}  # processed exactly once
    answered = Counter(m.channel for m in harness.fake.messages)
    assert answered == Counter({f"D{user}": 1 for user in USERS})  # answered exactly once


async def test_an_event_that_cannot_be_stored_is_not_acknowledged(slack: SlackHarness) -> None:
    async def unavailable(event: NewEvent) -> None:
        raise LogUnavailable("the inbound log could not store the event")

    slack.runtime.inbound.append = unavailable  # type: ignore[method-assign]
    answer = await slack.sender.event(slack.sender.dm("UADA", "hello"))
    assert answer.status >= 500  # Slack retries it
    assert await slack.inbound_ids() == [] and await slack.outbox() == []
