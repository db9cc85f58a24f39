"""The Slack adapter running for real on loopback, against the fake Slack, on the test database."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from bot.adapter import WebAdapter
from core import repository
from core.conversation import ConversationState
from core.outbox import OutboxWorker
from core.runtime import Runtime, build_runtime
from core.settings import Settings
from core.storage.database import Database
from core.storage.models import LoggedEvent, OutboxMessage, Submission
from tests.fake_slack import FakeSlack, SlackSender
from tests.fake_slack.server import Posted

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test"
ADA = "UADA"
HOSTING = "Would you like the AI Alliance to host"  # the hosting question
CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()


async def eventually(predicate: Callable[[], Any], timeout: float = 5.0,
                     interval: float = 0.01) -> Any:
    """Wait for ``predicate()`` (sync or async) to be truthy, failing at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met before the deadline")
        await asyncio.sleep(interval)


@dataclass
class SlackHarness:
    """The app, the fake Slack, the outbox worker and a signed-request sender."""

    fake: FakeSlack
    sender: SlackSender
    adapter: WebAdapter
    runtime: Runtime
    worker: OutboxWorker

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.adapter.port}"

    def seen(self, user: str) -> int:
        """How many DMs ``user`` has had so far: pass as ``after`` to wait for the next."""
        return len(self.fake.dms(user))

    async def say(self, user: str, text: str, expect: str, **fields: Any) -> Posted:
        """A DM from ``user``; returns the bot's answer containing ``expect``."""
        before = self.seen(user)
        answer = await self.sender.event(self.sender.dm(user, text, **fields))
        assert answer.status == 200, answer.text
        return await self.fake.wait_for_dm(user, expect, after=before)

    async def upload(self, user: str, name: str, data: bytes, expect: str,
                     mimetype: str = "text/markdown", text: str = "") -> Posted:
        before = self.seen(user)
        file = self.fake.add_file(name, data, mimetype)
        answer = await self.sender.event(self.sender.dm(user, text, files=[file]))
        assert answer.status == 200
        return await self.fake.wait_for_dm(user, expect, after=before)

    async def upload_claiming(self, user: str, name: str, data: bytes, *, size: int,
                              expect: str) -> Posted:
        """A file whose event claims ``size`` bytes (Slack's object, not the data)."""
        before = self.seen(user)
        file = self.fake.add_file(name, data, "text/csv", size=size)
        assert (await self.sender.event(self.sender.dm(user, files=[file]))).status == 200
        return await self.fake.wait_for_dm(user, expect, after=before)

    async def click(self, message: Posted, user: str, expect: str, **choice: Any) -> Posted:
        before = self.seen(user)
        answer = await self.sender.click(message, user, **choice)
        assert answer.status == 200, answer.text
        return await self.fake.wait_for_dm(user, expect, after=before)

    async def count(self, model: Any, *where: Any) -> int:
        async with self.db.transaction() as session:
            return int(await session.scalar(select(func.count()).select_from(model)
                                            .where(*where)) or 0)

    async def submissions(self) -> list[Submission]:
        async with self.db.transaction() as session:
            return list((await session.scalars(select(Submission).order_by(Submission.id))).all())

    async def inbound_ids(self) -> list[str]:
        """Slack's ids of what was logged (``event_id``, click, view, trigger), in order."""
        async with self.db.transaction() as session:
            keys = (await session.scalars(select(LoggedEvent.idempotency_key)
                                          .where(LoggedEvent.channel == "slack")
                                          .order_by(LoggedEvent.id))).all()
        return [key.removeprefix("event:") for key in keys]

    async def outbox(self) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return list((await session.scalars(
                select(OutboxMessage).where(OutboxMessage.channel == "slack")
                .order_by(OutboxMessage.id))).all())

    async def state(self, user: str) -> ConversationState:
        async with self.db.transaction() as session:
            found = await repository.slack_conversation_state(session, user)
        assert found is not None
        return found

    async def all_delivered(self) -> bool:
        """Every Slack message in the outbox was sent (none pending, retried or dead)."""
        return all(m.status == "sent" for m in await self.outbox())

    async def review_delivered(self) -> bool:
        """Every message for the review threads was posted (their own outbox channel)."""
        async with self.db.transaction() as session:
            statuses = (await session.scalars(select(OutboxMessage.status).where(
                OutboxMessage.channel == "review"))).all()
        return all(status == "sent" for status in statuses)

    def metric(self, name: str, label: str = "", value: str = "") -> int:
        return self.adapter.metrics.get(name, label, value)


def slack_settings(db: Database, fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "INTAKE_DATABASE_URL": db.url, "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url,
        "INTAKE_HTTP_HOST": "127.0.0.1", "INTAKE_HTTP_PORT": 0, **overrides}
    return Settings(_env_file=None, **values)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    server = FakeSlack(bot_token=BOT_TOKEN)
    await server.start()
    server.add_user(ADA, "ada@example.org")
    try:
        yield server
    finally:
        await server.stop()


@contextlib.asynccontextmanager
async def running(settings: Settings, db: Database, fake: FakeSlack
                  ) -> AsyncIterator[SlackHarness]:
    """Start the adapter, the event worker and an outbox worker woken by every enqueue,
    as ``intake serve`` does: logged events are processed as they are handed over."""
    runtime = build_runtime(settings, db)
    adapter = WebAdapter()
    await adapter.start(runtime)
    worker = OutboxWorker(db, runtime.deliverers)
    runtime.service.on_enqueued = worker.wakeup.set
    task = asyncio.create_task(worker.run_forever(poll_seconds=0.05))
    events = asyncio.create_task(runtime.events.run_forever())
    async with aiohttp.ClientSession() as session:
        sender = SlackSender(f"http://127.0.0.1:{adapter.port}/slack/events", SECRET, session)
        try:
            yield SlackHarness(fake, sender, adapter, runtime, worker)
        finally:
            await adapter.stop()
            for running_task in (events, task):
                running_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running_task
            await runtime.events.stop()


@pytest.fixture
async def slack(db: Database, fake: FakeSlack) -> AsyncIterator[SlackHarness]:
    async with running(slack_settings(db, fake), db, fake) as harness:
        yield harness
