"""Many processes on one PostgreSQL database behave as one `intake serve`.

Two `intake mail`, two `intake web` and two `intake worker` processes share a database;
100 e-mail contributors each send every field with the card and then confirm (200
e-mails, spread over both inboxes) while 200 Slack users write their first DM (spread
over both web processes). Every message is processed once and answered once, every
reference is unique, and each contributor's messages are taken in order.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest
from sqlalchemy import func, select

from core.storage.database import Database
from core.storage.models import LoggedEvent, Submission
from tests.bot.conftest import BOT_TOKEN, SECRET
from tests.e2e.processes import DEADLINE, Service, environment, free_port, send_dm, until
from tests.fake_slack import FakeSlack, SlackSender
from tests.mail.conftest import CARD, EVERY_FIELD, SUBMIT, Sink, letter, reply_to

CONTRIBUTORS = 100
DMS = 200


async def contribute(port: int, confirm_port: int, index: int, sink: Sink) -> None:
    """Every field and the card in one e-mail, then "yes" to the summary it gets back."""
    address = f"multi{index:03d}@example.org"
    first = letter(EVERY_FIELD, sender=address,
                   attachments=[("README.md", CARD, "text/markdown")])
    await aiosmtplib.send(first, hostname="127.0.0.1", port=port, timeout=30)
    [summary] = await sink.wait_for(address, 1, timeout=DEADLINE)
    await aiosmtplib.send(reply_to(summary, "yes", sender=address), hostname="127.0.0.1",
                          port=confirm_port, timeout=30)
    await sink.wait_for(address, 2, timeout=DEADLINE)


async def test_two_of_each_process_on_one_database(db: Database, tmp_path: Path) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several processes share a PostgreSQL database")
    fake = FakeSlack(bot_token=BOT_TOKEN)
    await fake.start()
    for index in range(DMS):
        fake.add_user(f"UM{index:04d}", f"um{index:04d}@example.org")
    sink = Sink()
    sink_port = await sink.start()
    common = {"INTAKE_DATABASE_URL": db.url, "INTAKE_SUBMIT_ADDRESS": SUBMIT,
              "INTAKE_RELAY_HOST": "127.0.0.1", "INTAKE_RELAY_PORT": str(sink_port),
              "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
              "SLACK_API_URL": fake.api_url, "INTAKE_SMTP_HOST": "127.0.0.1",
              "INTAKE_HTTP_HOST": "127.0.0.1"}
    smtp_ports, http_ports = [free_port(), free_port()], [free_port(), free_port()]
    services = [Service(environment(**common, INTAKE_SMTP_PORT=str(port),
                                    INTAKE_HTTP_PORT=str(free_port())), tmp_path, "mail",
                        ("INTAKE_SMTP_PORT",)) for port in smtp_ports]
    services += [Service(environment(**common, INTAKE_HTTP_PORT=str(port),
                                     INTAKE_SMTP_PORT=str(free_port())), tmp_path, "web",
                         ("INTAKE_HTTP_PORT",)) for port in http_ports]
    services += [Service(environment(**common, INTAKE_SMTP_PORT=str(free_port()),
                                     INTAKE_HTTP_PORT=str(free_port())), tmp_path, "worker",
                         ()) for _ in range(2)]
    try:
        for service in services:
            await service.start()
        accepted: set[str] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
            senders = [SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET, session)
                       for port in http_ports]
            slots = asyncio.Semaphore(30)

            async def bounded(job: object) -> None:
                async with slots:
                    await job  # type: ignore[misc]

            jobs = [bounded(contribute(smtp_ports[i % 2], smtp_ports[(i + 1) % 2], i, sink))
                    for i in range(CONTRIBUTORS)]
            jobs += [bounded(send_dm(senders[i % 2], i, accepted, prefix="UM"))
                     for i in range(DMS)]
            await asyncio.gather(*jobs)
        assert len(accepted) == DMS

        async def all_answered() -> bool:
            return all(fake.dms(f"UM{i:04d}") for i in range(DMS))

        await until(all_answered, DEADLINE, "every Slack user answered")
        async with db.transaction() as s:
            references = list((await s.scalars(select(Submission.reference))).all())
            statuses = dict((await s.execute(select(LoggedEvent.status, func.count())
                                             .group_by(LoggedEvent.status))).all())
        assert len(references) == CONTRIBUTORS and len(set(references)) == CONTRIBUTORS
        assert statuses == {"done": statuses.get("done")}, statuses
        replies = Counter(a for m in sink.messages for a in m.rcpt_tos)
        assert all(replies[f"multi{i:03d}@example.org"] == 2 for i in range(CONTRIBUTORS)), \
            {a: c for a, c in replies.items() if c != 2}
        assert all(len(fake.dms(f"UM{i:04d}")) == 1 for i in range(DMS))
    finally:
        for service in services:
            await service.stop()
        await fake.stop()
        if sink.server is not None:
            sink.server.close()
