"""The review desk as ``intake serve`` runs it: the e-mail inbox, the web adapter (which
serves the desk), the event and outbox workers, all on loopback, with a real SMTP sink.

A submission is made through a real e-mail conversation; sign-in links are read from
the sink as the reviewer's mail server would receive them.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from sqlalchemy import select

from bot.adapter import WebAdapter
from core.storage.database import Database
from core.storage.models import AuditEntry, OutboxMessage, Submission
from tests.mail.conftest import (
    CARD,
    EVERY_FIELD,
    Intake,
    Received,
    Sink,
    eventually,
    letter,
    reply_to,
    start_intake,
    stop_intake,
)
from tests.mail.conftest import sink as sink  # noqa: F401 - the SMTP sink fixture

ADA = "ada@example.org"  # the contributor, by e-mail
RITA = "rita@alliance.test"  # a reviewer
OTTO = "Otto@Alliance.test"  # a reviewer listed with capitals
LINK = re.compile(r"http://127\.0\.0\.1:\d+/desk/sign-in/[A-Za-z0-9_-]+")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Desk:
    """The running service and what a test does with it."""

    intake: Intake
    web: WebAdapter

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.web.port}"

    @property
    def sink(self) -> Sink:
        return self.intake.sink

    @property
    def db(self) -> Database:
        return self.intake.db

    async def submit(self) -> Received:
        """Ada's e-mail with every field and the card, then "yes": the submitted e-mail."""
        await self.intake.send(letter(EVERY_FIELD,
                                      attachments=[("README.md", CARD, "text/markdown")]))
        [summary] = await self.sink.wait_for(ADA)
        await self.intake.send(reply_to(summary, "yes"))
        submitted = (await self.sink.wait_for(ADA, 2))[1]
        await self.sink.wait_for(RITA)  # the review thread is open
        await self.intake.settle()
        return submitted

    def sign_in_mails(self, address: str) -> list[Received]:
        return [m for m in self.sink.to(address) if "sign-in link" in m["Subject"]]

    async def link_for(self, address: str, count: int = 1) -> str:
        """The sign-in link in the ``count``-th sign-in e-mail to ``address``."""

        async def arrived() -> bool:
            return len(self.sign_in_mails(address)) >= count

        await eventually(arrived)
        mail = self.sign_in_mails(address)[count - 1]
        found = LINK.search(mail.body)
        assert found, mail.body
        return found.group(0)

    async def submission(self) -> Submission:
        async with self.db.transaction() as session:
            return (await session.scalars(select(Submission))).one()

    async def decisions(self) -> list[tuple[str, str, str]]:
        """(action, actor, channel) of every review decision recorded."""
        async with self.db.transaction() as session:
            rows = await session.execute(select(
                AuditEntry.action, AuditEntry.actor, AuditEntry.channel).where(
                AuditEntry.action.in_(("review.approve", "review.changes", "review.reject",
                                       "review.ask"))).order_by(AuditEntry.id))
            return [tuple(row) for row in rows.all()]

    async def mail_to(self, address: str) -> list[OutboxMessage]:
        async with self.db.transaction() as session:
            return list((await session.scalars(select(OutboxMessage).where(
                OutboxMessage.channel == "mail",
                OutboxMessage.recipient == address))).all())


async def start_desk(db: Database, sink: Sink, **overrides: str) -> Desk:
    values = {"INTAKE_REVIEW_EMAILS": f"{RITA}, {OTTO}", "INTAKE_HTTP_HOST": "127.0.0.1",
              "INTAKE_HTTP_PORT": "0", "INTAKE_DESK_SECRET": "test-secret-" + "x" * 20,
              **overrides}
    intake = await start_intake(db, sink, **values)
    web = WebAdapter()
    await web.start(intake.runtime)
    return Desk(intake, web)


async def stop_desk(desk: Desk) -> None:
    await desk.web.stop()
    await stop_intake(desk.intake)


@pytest.fixture
async def desk(db: Database, sink: Sink) -> AsyncIterator[Desk]:
    running = await start_desk(db, sink)
    try:
        yield running
    finally:
        await stop_desk(running)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


async def sign_in(desk: Desk, client: aiohttp.ClientSession, address: str = RITA,
                  count: int = 1) -> None:
    """The whole sign-in over HTTP: ask for a link, read it from the sink, use it."""
    async with client.get(f"{desk.base}/desk/sign-in") as response:
        token = csrf_of(await response.text())
    async with client.post(f"{desk.base}/desk/sign-in",
                           data={"csrf": token, "email": address}) as response:
        assert response.status == 200
    link = await desk.link_for(address, count)
    async with client.get(link) as response:
        token = csrf_of(await response.text())
    async with client.post(link, data={"csrf": token}, allow_redirects=False) as response:
        assert response.status == 303, await response.text()
        assert response.headers["Location"] == "/desk/"
