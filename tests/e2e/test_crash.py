"""Killed mid-burst, nothing acknowledged is lost or done twice.

`intake serve` runs as a real process: 200 e-mails (real SMTP) and 200 Slack DMs (signed
HTTP) from new contributors arrive concurrently while the process is killed with
SIGKILL at three random moments and started again. Every message that got ``250`` or
HTTP 200 must be processed exactly once (one done row in the inbound log, one
conversation) and answered exactly once (one reply Message-ID in the SMTP sink per
e-mail sender, one DM per Slack user). Bounded: loopback only, a deadline on every wait.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from core.storage.database import Database
from core.storage.models import Conversation, LoggedEvent
from tests.bot.conftest import BOT_TOKEN, SECRET
from tests.e2e.processes import (
    DEADLINE,
    Service,
    environment,
    free_port,
    send_dm,
    send_mail,
    until,
)
from tests.fake_slack import FakeSlack, SlackSender
from tests.mail.conftest import SUBMIT, Sink

MAILS = int(os.environ.get("INTAKE_CRASH_MAILS", "200"))
DMS = int(os.environ.get("INTAKE_CRASH_DMS", "200"))
KILLS = 3


async def test_sigkill_during_a_burst_loses_nothing_and_doubles_nothing(
        tmp_path: Path) -> None:
    fake = FakeSlack(bot_token=BOT_TOKEN)
    await fake.start()
    for index in range(DMS):
        fake.add_user(f"UC{index:04d}", f"uc{index:04d}@example.org")
    sink = Sink()
    sink_port = await sink.start()
    smtp_port, http_port = free_port(), free_port()
    url = f"sqlite+aiosqlite:///{tmp_path}/intake.db"
    env = {**environment(), "INTAKE_DATABASE_URL": url, "INTAKE_SMTP_HOST": "127.0.0.1",
           "INTAKE_SMTP_PORT": str(smtp_port), "INTAKE_SUBMIT_ADDRESS": SUBMIT,
           "INTAKE_RELAY_HOST": "127.0.0.1", "INTAKE_RELAY_PORT": str(sink_port),
           "INTAKE_HTTP_HOST": "127.0.0.1", "INTAKE_HTTP_PORT": str(http_port),
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake.api_url, "INTAKE_LEASE_SECONDS": "3"}
    service = Service(env, tmp_path)
    await service.start()
    mails: dict[str, str] = {}
    dms: set[str] = set()
    rng = random.Random(int(os.environ.get("INTAKE_CRASH_SEED", "20261201")))
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
            sender = SlackSender(f"http://127.0.0.1:{http_port}/slack/events", SECRET, session)
            slots = asyncio.Semaphore(40)

            async def bounded(job: Any) -> None:
                async with slots:
                    await job

            jobs = [bounded(send_mail(smtp_port, i, mails)) for i in range(MAILS)]
            jobs += [bounded(send_dm(sender, i, dms)) for i in range(DMS)]
            rng.shuffle(jobs)
            senders = asyncio.gather(*jobs)

            async def killer() -> None:
                for _ in range(KILLS):
                    await asyncio.sleep(rng.uniform(0.3, 2.0))  # a random moment
                    await service.kill()
                    await service.start()

            await asyncio.gather(senders, killer())
        assert len(mails) == MAILS and len(dms) == DMS  # every sender got through at last

        db = Database(url)
        try:
            async def all_processed() -> bool:
                async with db.transaction() as s:
                    pending = await s.scalar(select(func.count()).select_from(LoggedEvent)
                                             .where(LoggedEvent.status != "done"))
                return pending == 0

            async def all_answered() -> bool:
                answered_mail = {a for m in sink.messages for a in m.rcpt_tos}
                answered_dm = {u for u in dms if fake.dms(u)}
                return set(mails) <= answered_mail and answered_dm == dms

            await until(all_processed, DEADLINE, "every logged event processed")
            await until(all_answered, DEADLINE, "every accepted message answered")
            # One round more of the outbox: a duplicate would arrive now, if at all.
            await service.kill()
            await service.start()
            await until(all_processed, DEADLINE, "still all processed after a last restart")

            async with db.transaction() as s:
                events = (await s.execute(select(LoggedEvent.channel, LoggedEvent.status,
                                                 func.count()).group_by(
                    LoggedEvent.channel, LoggedEvent.status))).all()
                conversations = Counter((await s.scalars(select(Conversation.channel))).all())
            done = {(channel, status): count for channel, status, count in events}
            assert done.get(("mail", "done"), 0) == MAILS, done
            assert done.get(("slack", "done"), 0) >= DMS, done
            assert conversations["mail"] == MAILS and conversations["slack"] == DMS
            replies = Counter(a for m in sink.messages for a in m.rcpt_tos)
            reply_ids = Counter((a, str(m.message["Message-ID"])) for m in sink.messages
                                for a in m.rcpt_tos)
            distinct_per_sender = Counter(a for a, _mid in reply_ids)
            assert all(distinct_per_sender[s] == 1 for s in mails), distinct_per_sender
            dm_counts = {u: len(fake.dms(u)) for u in dms}
            assert all(count == 1 for count in dm_counts.values()), \
                {u: c for u, c in dm_counts.items() if c != 1}
            report = {"mails_accepted": len(mails), "dms_accepted": len(dms),
                      "restarts": service.starts - 1,
                      "mail_deliveries": sum(replies.values()),
                      "mail_distinct_replies": len(reply_ids),
                      "dm_posts": sum(dm_counts.values())}
            print("crash test:", json.dumps(report))
        finally:
            await db.dispose()
    finally:
        await service.stop()
        await fake.stop()
        if sink.server is not None:
            sink.server.close()
