"""The process's metrics, on one Prometheus registry, whatever the process runs.

``build_runtime`` makes one ``Metrics`` per process and passes it down (the inbound log,
the event worker, the outbox worker, the review desk, the card check, the Slack
adapter), so ``intake serve``, ``mail``, ``web`` and ``worker`` expose the same families.
Counters and histograms count what this process did; the gauges that live in the
database (submissions by status, the outbox's depth and its oldest waiting message,
the inbound log's backlog) are read when Prometheus scrapes, by ``DatabaseCollector``.

``GET /metrics`` of the HTTP process serves it; a process without HTTP (``intake mail``,
``intake worker``) serves it on a listener of its own when ``INTAKE_METRICS_PORT`` is
set (``Metrics.serve``, started by ``run_parts``). Each process has its own counters, to
be added up across instances by Prometheus (multiprocess mode is for forks of one
server, which these are not); the database gauges are the same from every process (one
database): take ``max`` of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.storage.database import Database
from core.storage.models import LoggedEvent, OutboxMessage, Submission, utcnow

log = logging.getLogger(__name__)

SCRAPE_TIMEOUT = 3.0  # seconds the database may take to answer a scrape
# Seconds: a turn takes milliseconds, a fetched card or a slow relay seconds.
FAST = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SLOW = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
_AFTER_COMMIT = "core.metrics.after_commit"


class Metrics:
    """Every counter and histogram of the intake, on this object's own registry.

    Labels carry channels, outcomes, statuses and verdicts only: bounded sets, never a
    contributor, a reference or a text.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.inbound = Counter(
            "intake_inbound_events", "Inbound events at the door, by channel and outcome "
            "(logged, duplicate: already logged, refused: could not be stored).",
            ["channel", "outcome"], registry=r)
        self.processed = Counter(
            "intake_events_processed", "Inbound events processed by the worker, by channel "
            "and outcome (the channel's label, or failed / poisoned).",
            ["channel", "outcome"], registry=r)
        self.processing = Histogram(
            "intake_event_processing_seconds", "Time to process one inbound event "
            "(translate and its transaction), by channel.", ["channel"], buckets=FAST,
            registry=r)
        self.latency = Histogram(
            "intake_event_latency_seconds", "From an event being logged to its turn being "
            "committed, by channel.", ["channel"], buckets=SLOW, registry=r)
        self.turns = Counter(
            "intake_turns", "Conversation turns committed, by channel and result "
            "(continued, submitted).", ["channel", "result"], registry=r)
        self.deliveries = Counter(
            "intake_deliveries", "Outbox delivery attempts, by channel and outcome "
            "(delivered, retry, dead, lost: another worker took it over).",
            ["channel", "outcome"], registry=r)
        self.delivery_seconds = Histogram(
            "intake_delivery_seconds", "Time of one delivery attempt, by channel.",
            ["channel"], buckets=FAST, registry=r)
        self.cards = Counter(
            "intake_card_checks", "Dataset cards checked, by verdict "
            "(passes, problems, unreadable).", ["verdict"], registry=r)
        self.card_seconds = Histogram(
            "intake_card_check_seconds", "Time to check one dataset card.", buckets=FAST,
            registry=r)
        self.decisions = Counter(
            "intake_review_decisions", "Reviewer decisions, by decision, channel and "
            "outcome (applied, or why it was refused).", ["decision", "channel", "outcome"],
            registry=r)
        # The Slack adapter's own counters (formerly bot/metrics.py), same names.
        self._named: dict[str, tuple[Counter, str | None]] = {}
        for name, text, label in (
                ("intake_slack_requests_total", "HTTP requests to /slack/events, by "
                 "response status.", "status"),
                ("intake_slack_events_total", "Slack events, actions and forms processed, "
                 "by kind.", "kind"),
                ("intake_slack_duplicates_total", "Slack events skipped because they were "
                 "seen before.", None),
                ("intake_slack_deliveries_total", "Slack API outcomes of outbox deliveries "
                 "to contributors, by result.", "result"),
                ("intake_slack_review_deliveries_total", "Slack API outcomes of deliveries "
                 "to review threads, by result.", "result")):
            counter = Counter(name, text, [label] if label else [], registry=r)
            self._named[name] = (counter, label)
        self.database: DatabaseCollector | None = None

    # -- by name (the Slack adapter's counters) ----------------------------------------------

    def inc(self, name: str, label: str = "", value: str = "", by: int = 1) -> None:
        """``inc("intake_slack_events_total", "kind", "message")``."""
        counter, label_name = self._named[name]
        (counter.labels(value) if label_name else counter).inc(by)

    def get(self, name: str, label: str = "", value: str = "") -> int:
        """A counter's value as exposed (0 when never counted): for tests and benches."""
        found = self.registry.get_sample_value(name, {label: value} if label else {})
        return int(found or 0)

    def value(self, name: str, **labels: str) -> float:
        """Any sample's value as exposed, 0 when absent."""
        return float(self.registry.get_sample_value(name, labels) or 0)

    # -- the database's gauges, and the exposition -------------------------------------------

    def watch(self, db: Database, clock: Callable[[], datetime] = utcnow,
              channels: Callable[[], Iterable[str]] = tuple) -> None:
        """Read the database's gauges at each scrape (once per registry); ``channels``:
        the outbox channels this process delivers, shown even when nothing waits."""
        if self.database is None:
            self.database = DatabaseCollector(db, clock, channels)
            self.registry.register(self.database)

    async def render(self) -> bytes:
        """The exposition text, with the database's gauges read now."""
        if self.database is not None:
            await self.database.refresh()
        return generate_latest(self.registry)

    async def page(self, _request: web.Request) -> web.Response:
        """``GET /metrics`` for an aiohttp application."""
        return web.Response(body=await self.render(),
                            headers={"Content-Type": CONTENT_TYPE_LATEST,
                                     "X-Content-Type-Options": "nosniff"})

    async def serve(self, host: str, port: int) -> web.AppRunner:
        """A listener of its own with ``GET /metrics`` (``INTAKE_METRICS_PORT``)."""
        app = web.Application()
        app.router.add_get("/metrics", self.page)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        return runner


def after_commit(session: Any, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's transaction commits (never on a rollback): a
    turn or a decision is counted once, however often a failing event was tried."""
    session.info.setdefault(_AFTER_COMMIT, []).append(action)


@sa_event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for action in session.info.pop(_AFTER_COMMIT, []):
        try:
            action()
        except Exception:  # noqa: BLE001 - a metric or a log line never breaks a commit
            log.exception("after-commit action failed")


@sa_event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time (``refresh`` then ``collect``).

    ``collect`` is synchronous (the client library calls it), so ``refresh`` reads the
    database on the event loop first; a database that does not answer within
    ``SCRAPE_TIMEOUT`` gives ``intake_database_up 0`` and no stale values.
    """

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow,
                 channels: Callable[[], Iterable[str]] = tuple) -> None:
        self.db = db
        self.clock = clock
        self.channels = channels
        self._up = False
        self._snapshot: list[Metric] = []
        self._lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self._lock:
            try:
                async with asyncio.timeout(SCRAPE_TIMEOUT):
                    self._snapshot = await self._read()
                self._up = True
            except Exception as error:  # noqa: BLE001 - reported as intake_database_up 0
                log.warning("metrics: cannot read the database: %s", type(error).__name__)
                self._up, self._snapshot = False, []

    async def _read(self) -> list[Metric]:
        from core.review import Status

        now = self.clock()
        async with self.db.transaction() as session:
            statuses = dict((await session.execute(
                select(Submission.status, func.count()).group_by(Submission.status))).all())
            outbox = (await session.execute(
                select(OutboxMessage.channel, OutboxMessage.status, func.count(),
                       func.min(func.coalesce(OutboxMessage.requeued_at,
                                              OutboxMessage.created_at)))
                .where(OutboxMessage.status.in_(("pending", "sending", "dead")))
                .group_by(OutboxMessage.channel, OutboxMessage.status))).all()
            inbound = (await session.execute(
                select(LoggedEvent.channel, LoggedEvent.status, func.count())
                .where(LoggedEvent.status.in_(("pending", "poisoned")))
                .group_by(LoggedEvent.channel, LoggedEvent.status))).all()
        submissions = GaugeMetricFamily(
            "intake_submissions", "Submissions in the database, by status.", labels=["status"])
        for status in [*Status, *sorted(set(statuses) - set(Status))]:
            submissions.add_metric([str(status)], statuses.get(str(status), 0))
        depth: dict[str, int] = dict.fromkeys(self.channels(), 0)
        dead: dict[str, int] = dict.fromkeys(depth, 0)
        oldest: dict[str, datetime] = {}
        for channel, status, count, first in outbox:
            depth.setdefault(channel, 0)
            dead.setdefault(channel, 0)
            if status == "dead":
                dead[channel] += count
                continue
            depth[channel] += count
            if first is not None:
                first = _aware(first)
                oldest[channel] = min(oldest.get(channel, first), first)
        depth_family = GaugeMetricFamily(
            "intake_outbox_depth", "Outbox messages waiting to be delivered (pending or "
            "being sent), by channel.", labels=["channel"])
        dead_family = GaugeMetricFamily(
            "intake_outbox_dead", "Outbox messages given up on (intake outbox list --dead), "
            "by channel.", labels=["channel"])
        age_family = GaugeMetricFamily(
            "intake_outbox_oldest_pending_age_seconds", "Age of the oldest message still "
            "waiting to be delivered, by channel (0: none waiting).", labels=["channel"])
        for channel in sorted(depth):
            depth_family.add_metric([channel], depth[channel])
            dead_family.add_metric([channel], dead[channel])
            age = (now - oldest[channel]).total_seconds() if channel in oldest else 0.0
            age_family.add_metric([channel], max(age, 0.0))
        backlog = GaugeMetricFamily(
            "intake_inbound_backlog", "Inbound events not processed yet (pending) or set "
            "aside after repeated failures (poisoned), by channel.",
            labels=["channel", "status"])
        waiting = {(channel, status): 0 for channel in depth for status in ("pending",
                                                                             "poisoned")}
        for channel, status, count in inbound:  # zeros too: an alert needs the series
            waiting[(channel, status)] = count
        for (channel, status), count in sorted(waiting.items()):
            backlog.add_metric([channel, status], count)
        return [submissions, depth_family, dead_family, age_family, backlog]

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily("intake_database_up", "1 when the database answered the "
                               "last scrape, else 0.", value=1 if self._up else 0)
        return _chain([up], self._snapshot)

    def describe(self) -> Iterable[Metric]:
        return []  # the families depend on the data: nothing to check at registration


def _chain(*parts: list[Metric]) -> Iterator[Metric]:
    for part in parts:
        yield from part


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
