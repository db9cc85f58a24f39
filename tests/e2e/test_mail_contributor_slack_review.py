"""The whole product at once, as `intake serve` runs it: a contributor on e-mail (real
SMTP in, replies read from a real SMTP sink) and reviewers in Slack (the fake Web API).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

import mail.models  # noqa: F401 - the e-mail tables join the metadata the fixtures empty
from bot.adapter import WebAdapter
from core.runtime import build_runtime
from core.storage.database import Database
from mail.adapter import MailAdapter
from mail.options import MailOptions
from tests.bot.conftest import BOT_TOKEN, CARD, SECRET, SlackHarness
from tests.bot.test_review_thread import (
    OTTO,
    REVIEW,
    RITA,
    decide_in_modal,
    in_thread,
    thread_ready,
)
from tests.fake_slack import FakeSlack, SlackSender
from tests.mail.conftest import MX, SUBMIT, Intake, Sink, fake_fetch, letter, reply_to

ADA = "ada@example.org"


@pytest.fixture
async def product(db: Database) -> AsyncIterator[tuple[Intake, SlackHarness]]:
    """Both front doors and the outbox worker on one runtime, like `intake serve`."""
    fake = FakeSlack(bot_token=BOT_TOKEN)
    await fake.start()
    fake.add_members(REVIEW, RITA, OTTO, "UBOT")
    for user in (RITA, OTTO):
        fake.add_user(user, f"{user.lower()}@example.org", name=user.lower())
    sink = Sink()
    sink_port = await sink.start()
    from core.settings import Settings

    settings = Settings(
        _env_file=None, INTAKE_DATABASE_URL=db.url, INTAKE_SMTP_HOST="127.0.0.1",
        INTAKE_SMTP_PORT=0, INTAKE_SUBMIT_ADDRESS=SUBMIT, INTAKE_RELAY_HOST="127.0.0.1",
        INTAKE_RELAY_PORT=sink_port, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url, INTAKE_HTTP_HOST="127.0.0.1", INTAKE_HTTP_PORT=0,
        INTAKE_REVIEW_CHANNEL=REVIEW, INTAKE_TRUSTED_AUTHSERV_IDS=MX)  # letter() says DMARC pass
    runtime = build_runtime(settings, db, fetch_card=fake_fetch)
    mail_adapter = MailAdapter(MailOptions(_env_file=None, poll_seconds=0.5))
    web_adapter = WebAdapter()
    await mail_adapter.start(runtime)
    await web_adapter.start(runtime)
    worker = runtime.worker()
    runtime.service.on_enqueued = worker.wakeup.set
    task = asyncio.create_task(worker.run_forever(poll_seconds=0.05))
    intake = Intake(runtime, mail_adapter, sink, db)
    async with aiohttp.ClientSession() as session:
        sender = SlackSender(f"http://127.0.0.1:{web_adapter.port}/slack/events", SECRET,
                             session)
        try:
            yield intake, SlackHarness(fake, sender, web_adapter, runtime, worker)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await web_adapter.stop()
            await mail_adapter.stop()
            assert sink.server is not None
            sink.server.close()
            await fake.stop()


async def test_mail_contributor_slack_reviewers(product: tuple[Intake, SlackHarness]
                                                ) -> None:
    intake, slack = product
    sink = intake.sink
    everything = ("dataset-name: Coral Reefs of Belize\r\n"
                  "dataset-url: https://example.org/coral\r\n"
                  "Hosting: yes\r\nModalities: images\r\nDomain: Marine\r\n"
                  "I agree to the terms: yes\r\n")
    assert await intake.send(letter(everything, subject="I want to contribute an OTDI dataset",
                                    attachments=[("README.md", CARD, "text/markdown")])) == {}
    [summary] = await sink.wait_for(ADA, 1)
    # The agreement came before the terms were shown: the summary shows them and asks once.
    assert "Coral Reefs of Belize" in summary.body and "CDLA-Permissive-2.0" in summary.body
    assert "Do you agree to these terms?" in summary.body
    assert await intake.send(reply_to(summary, "Yes, submit it.")) == {}
    submitted = (await sink.wait_for(ADA, 2))[1]
    assert "OTDI-0001" in submitted["Subject"] and "is submitted as OTDI-0001" in submitted.body

    parent = await thread_ready(slack)
    assert "Coral Reefs of Belize" in parent.all_text and "via e-mail" in parent.all_text

    await decide_in_modal(slack, parent, RITA, "ask", "Who collected the photographs?")
    question = (await sink.wait_for(ADA, 3))[2]
    assert "Who collected the photographs?" in question.body
    assert question["In-Reply-To"]  # threaded in the contributor's conversation
    assert "[OTDI-0001]" in question["Subject"]

    assert await intake.send(reply_to(question, "Our divers, in 2023.")) == {}
    answer = await in_thread(slack, parent, "Our divers, in 2023.")
    assert "Who collected" not in answer.all_text  # the quoted thread was stripped

    await slack.sender.click(parent, OTTO, action_id="otdi_review_approve")
    approval = (await sink.wait_for(ADA, 5))[-1]
    assert "approved" in approval.body and "[OTDI-0001]" in approval["Subject"]
    assert "Alliance hosting" in approval.body  # they chose Alliance hosting
    assert "Marine" in approval.body and "Images" in approval.body
    [submission] = await slack.submissions()
    assert submission.status == "approved"
