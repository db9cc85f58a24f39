"""``GET /metrics`` as Prometheus reads it, after real conversations by e-mail and Slack.

One process runs the SMTP inbox and the Slack endpoint on one runtime (as ``intake
serve`` does): a contributor submits by e-mail and a reviewer approves by e-mail, another
contributor talks to the bot in Slack, and the page is parsed with the Prometheus
client's own parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.adapter import WebAdapter
from core.logs import TextFormatter
from core.metrics import Metrics
from core.outbox import enqueue
from core.review import Decision, ReviewDesk, Reviewer
from core.storage.database import Database
from tests.bot.conftest import ADA, BOT_TOKEN, SECRET, fake  # noqa: F401 - a fixture
from tests.fake_slack import FakeSlack, SlackSender
from tests.mail.conftest import (  # noqa: F401 - sink is a fixture
    CARD,
    Intake,
    Sink,
    letter,
    reply_to,
    sink,
    start_intake,
    stop_intake,
)
from tests.mail.test_review_mail import ALLIANCE_HOSTING, RITA

CONTRIBUTOR = "ada@example.org"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Both:
    """The inbox and the Slack endpoint of one process, and a Slack sender."""

    intake: Intake
    web: WebAdapter
    slack: SlackSender
    fake: FakeSlack

    async def scrape(self) -> tuple[dict[str, str], Samples]:
        """Every family's type and every sample's value, as Prometheus parses the page."""
        async with aiohttp.ClientSession() as session, \
                session.get(f"http://127.0.0.1:{self.web.port}/metrics") as page:
            assert page.status == 200
            assert page.headers["Content-Type"].startswith("text/plain; version=")
            text = await page.text()
        types: dict[str, str] = {}
        samples: Samples = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return types, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; a missing one fails the test, naming what was there."""
    key = (name, frozenset(labels.items()))
    assert key in samples, (key, sorted(k for k in samples if k[0] == name))
    return samples[key]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of a family's samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, found), v in samples.items() if n == name and wanted <= found)


@pytest.fixture
async def both(db: Database, sink: Sink, fake: FakeSlack) -> AsyncIterator[Both]:  # noqa: F811
    intake = await start_intake(db, sink, worker=False, INTAKE_REVIEW_EMAILS=RITA,
                                SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET,
                                SLACK_API_URL=fake.api_url, INTAKE_HTTP_PORT=0)
    web = WebAdapter()
    await web.start(intake.runtime)
    outbox = intake.runtime.worker()  # after both adapters: it delivers for every channel
    intake.runtime.service.on_enqueued = outbox.wakeup.set
    intake.tasks.append(asyncio.create_task(outbox.run_forever(poll_seconds=0.2)))
    async with aiohttp.ClientSession() as session:
        try:
            yield Both(intake, web, SlackSender(f"http://127.0.0.1:{web.port}/slack/events",
                                                SECRET, session), fake)
        finally:
            await web.stop()
            await stop_intake(intake)


async def test_metrics_after_a_conversation_by_mail_and_one_by_slack(
        both: Both, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    intake = both.intake
    # Every field and the card in one message, then "yes" to what is asked until it is
    # submitted (the questions before the summary are the conversation's business).
    await intake.send(letter(ALLIANCE_HOSTING, attachments=[("README.md", CARD,
                                                             "text/markdown")]))
    sent = 1
    replies = await intake.sink.wait_for(CONTRIBUTOR)
    while "is submitted as OTDI-0001" not in replies[-1].body:
        assert sent < 5, replies[-1].body
        await intake.send(reply_to(replies[-1], "yes"))
        sent += 1
        replies = await intake.sink.wait_for(CONTRIBUTOR, sent)
    [review] = await intake.sink.wait_for(RITA)
    await intake.send(reply_to(review, "approve", sender=RITA))
    await intake.sink.wait_for(RITA, 2)  # the thread hears of the decision
    replies = await intake.sink.wait_for(CONTRIBUTOR, sent + 1)  # and Ada of the approval

    answer = await both.slack.event(both.slack.dm(ADA, "hello"))
    assert answer.status == 200
    await both.fake.wait_for_dm(ADA, "name of the dataset")
    await intake.settle()

    types, samples = await both.scrape()
    assert types["intake_inbound_events"] == "counter"
    assert types["intake_submissions"] == "gauge"
    assert types["intake_event_processing_seconds"] == "histogram"
    assert value(samples, "intake_database_up") == 1

    # At the door: Ada's e-mails and Rita's approval, and one Slack DM.
    assert value(samples, "intake_inbound_events_total", channel="mail",
                 outcome="logged") == sent + 1
    assert value(samples, "intake_inbound_events_total", channel="slack",
                 outcome="logged") == 1
    assert total(samples, "intake_events_processed_total", channel="mail") == sent + 1
    assert total(samples, "intake_events_processed_total", channel="slack") == 1
    assert value(samples, "intake_turns_total", channel="mail", result="submitted") == 1
    assert value(samples, "intake_turns_total", channel="mail",
                 result="continued") == sent - 1
    assert value(samples, "intake_turns_total", channel="slack", result="continued") == 1
    for channel in ("mail", "slack"):
        assert value(samples, "intake_event_processing_seconds_count", channel=channel) > 0
        assert value(samples, "intake_event_latency_seconds_count", channel=channel) > 0
        assert value(samples, "intake_deliveries_total", channel=channel,
                     outcome="delivered") >= 1
        assert value(samples, "intake_delivery_seconds_count", channel=channel) >= 1
        assert value(samples, "intake_outbox_depth", channel=channel) == 0
        assert value(samples, "intake_outbox_oldest_pending_age_seconds", channel=channel) == 0
    # Every e-mail Ada got (the answers, "submitted", the approval) was counted.
    assert value(samples, "intake_deliveries_total", channel="mail",
                 outcome="delivered") == len(intake.sink.to(CONTRIBUTOR))
    assert value(samples, "intake_deliveries_total", channel="review",
                 outcome="delivered") == 2
    assert value(samples, "intake_card_checks_total", verdict="passes") == 1
    assert value(samples, "intake_card_check_seconds_count") == 1
    assert value(samples, "intake_review_decisions_total", decision="approve",
                 channel="mail", outcome="applied") == 1
    assert value(samples, "intake_submissions", status="approved") == 1
    assert value(samples, "intake_submissions", status="in_review") == 0
    # One log line per card check and per decision, without the card or any text.
    lines = [TextFormatter().format(record) for record in caplog.records]
    [card] = [line for line in lines if " card checked " in line]
    for field in ("channel=mail", "verdict=passes", "errors=0", f"bytes={len(CARD)}"):
        assert field in card, (field, card)
    [decision] = [line for line in lines if " decision " in line]
    for field in ("reference=OTDI-0001", "decision=approve", f"by={RITA}", "channel=mail",
                  "outcome=applied", "status=approved"):
        assert field in decision, (field, decision)
    assert not [line for line in lines if "moored buoys" in line or "cdla" in line]

    # The Slack adapter's own counters are on the same registry.
    assert value(samples, "intake_slack_requests_total", status="200") == 1
    assert value(samples, "intake_slack_events_total", kind="message") == 1
    assert value(samples, "intake_slack_deliveries_total", result="ok") >= 1


async def test_the_outbox_gauges_are_read_from_the_database(db: Database) -> None:
    """A message waiting since 90 s ago, one given up on: seen at the next scrape."""
    queued = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    async with db.transaction() as session:
        enqueue(session, "mail", "ada@example.org", {"parts": []}, now=queued)
        later = enqueue(session, "mail", "ada@example.org", {"parts": []},
                        now=queued + timedelta(seconds=30))
        dead = enqueue(session, "slack", "UADA", {"parts": []}, now=queued)
        await session.flush()
        later.status, dead.status = "sending", "dead"
    metrics = Metrics()
    metrics.watch(db, clock=lambda: queued + timedelta(seconds=90),
                  channels=lambda: ["mail", "slack", "review"])
    families = {f.name: f for f in text_string_to_metric_families(
        (await metrics.render()).decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in families.values() for s in family.samples}
    assert samples[("intake_outbox_depth", (("channel", "mail"),))] == 2
    assert samples[("intake_outbox_depth", (("channel", "slack"),))] == 0
    assert samples[("intake_outbox_dead", (("channel", "slack"),))] == 1
    assert samples[("intake_outbox_oldest_pending_age_seconds", (("channel", "mail"),))] == 90
    assert samples[("intake_outbox_oldest_pending_age_seconds", (("channel", "review"),))] == 0
    assert samples[("intake_database_up", ())] == 1
    for channel in ("mail", "slack", "review"):  # nothing waits: zeros, not no series
        for status in ("pending", "poisoned"):
            key = ("intake_inbound_backlog", (("channel", channel), ("status", status)))
            assert samples[key] == 0

    await db.dispose()
    broken = Metrics()
    broken.watch(Database("sqlite+aiosqlite:////nonexistent-dir/intake.db"))
    try:
        text = (await broken.render()).decode()
    finally:
        assert broken.database is not None
        await broken.database.db.dispose()
    assert "intake_database_up 0.0" in text and "intake_outbox_depth" not in text


async def test_a_decision_is_counted_once_its_transaction_commits(db: Database) -> None:
    """A rolled-back decision (the event will be tried again) is not counted."""
    metrics = Metrics()
    desk = ReviewDesk(db, metrics=metrics)
    rita = Reviewer(id="rita@alliance.test", channel="mail")
    with contextlib.suppress(RuntimeError):
        async with db.transaction() as session:
            await desk.decide_in(session, "OTDI-0042", rita, Decision.APPROVE,
                                 is_reviewer=True)
            raise RuntimeError("the event's transaction fails after the decision")
    assert metrics.value("intake_review_decisions_total", decision="approve",
                         channel="mail", outcome="unknown") == 0
    await desk.decide("OTDI-0042", rita, Decision.APPROVE, is_reviewer=True)
    assert metrics.value("intake_review_decisions_total", decision="approve",
                         channel="mail", outcome="unknown") == 1
