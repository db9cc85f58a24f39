"""The one worker loop: every logged inbound event, of every channel, goes through here.

For each event: the channel's pure ``translate`` (MIME parsing, Slack payload reading)
outside any transaction, then one transaction in which the event is taken (locked, still
pending, first in line for its order key), the channel's ``apply`` runs the core's
operations (a conversation turn, a review decision, an audit row), the outbox rows are
written, and the event is marked done. Nothing is processed twice: the event row is
the lock and the record. A failure rolls everything back and is counted; an event
that failed (or crashed the worker) ``poison_after`` times is set aside as poisoned.

Events handed over in memory right after their append are processed at once; a scan
claims (with a lease) what a crash left behind or another process logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from core import repository
from core.conversation import Inbound
from core.inbound import InboundLog, NewEvent, StoredEvent
from core.logs import bound
from core.logs import event as log_event
from core.metrics import Metrics, after_commit
from core.outbox import OutboundRecord, OutboxWorker, enqueue, is_claimed, record_from_row
from core.service import ConversationKey, IntakeService, TurnOutcome
from core.storage.models import LoggedEvent, OutboxMessage

log = logging.getLogger(__name__)

FETCH_CHANNEL = "core.fetch"  # a card URL to fetch, logged by the turn that named it
FETCH_HOLD_SECONDS = 60.0  # the reply waits this long for the fetched card to join it


class ChannelHandler(Protocol):
    """What a channel gives the worker: how to read its raw events, and what they mean."""

    channel: str

    async def translate(self, event: StoredEvent) -> Any:
        """The raw event as facts (no database, no network to the sender)."""
        ...

    async def apply(self, unit: Unit, translated: Any) -> str:
        """Inside the event's transaction: call the core; return an outcome label."""
        ...


@dataclass
class Unit:
    """One event's transaction, and what may be done in it."""

    session: AsyncSession
    service: IntakeService
    event: StoredEvent
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    follow_ups: list[StoredEvent] = field(default_factory=list)
    direct: Callable[[str], timedelta | None] = lambda _channel: None
    claimed: list[OutboundRecord] = field(default_factory=list)
    metrics: Metrics | None = None

    async def turn(self, key: ConversationKey, event: Inbound, *,
                   merge_into: int | None = None) -> TurnOutcome:
        """A conversation turn in this transaction; a card URL becomes a follow-up event.

        The reply waits for the fetched card (at most ``FETCH_HOLD_SECONDS``), so the
        contributor gets one message with the card's report in it.
        """
        outcome, fetches = await self.service.turn_in(self.session, key, event,
                                                      merge_into=merge_into,
                                                      claim_for=self.direct(key.channel),
                                                      event_id=self.event.id)
        self.claimed += outcome.claimed
        state = outcome.state
        if self.metrics is not None:
            result = "submitted" if outcome.submission_reference else "continued"
            after_commit(self.session, self.metrics.turns.labels(key.channel, result).inc)
        log_event(log, "turn", channel=key.channel, event=self.event.id,
                  reference=state.reference if state else None,
                  phase=str(state.phase) if state else None, asking=state.asking if state
                  else None, submitted=outcome.submission_reference)
        reply = outcome.outbox_ids[-1] if outcome.outbox_ids else merge_into
        if fetches and reply is not None:
            await self.service.hold_in(self.session, [reply], FETCH_HOLD_SECONDS)
        for number, fetch in enumerate(fetches):
            payload = {"url": fetch.url, "channel": key.channel,
                       "contributor_id": key.contributor_id, "merge_into": reply}
            row = LoggedEvent(channel=FETCH_CHANNEL,
                              idempotency_key=f"{self.event.id}:{number}",
                              order_key=self.event.order_key, payload=payload, size=0,
                              status="pending", attempts=0, received_at=self.service.clock())
            self.session.add(row)
            await self.session.flush()
            self.follow_ups.append(StoredEvent(row.id, FETCH_CHANNEL, row.idempotency_key,
                                               row.order_key, payload, None, 0,
                                               row.received_at))
        return outcome


    async def annotate(self, outbox_id: int, section: str, values: dict[str, Any]) -> None:
        """Add what a channel's delivery needs (``payload[section]``: "mail", "slack") to
        an outbox row of this transaction, and to its copy if the turn already claimed it
        for direct delivery (that copy was taken before)."""
        await repository.annotate_outbox(self.session, outbox_id, section, values)
        for index, record in enumerate(self.claimed):
            if record.id == outbox_id:
                merged = {**(record.payload.get(section) or {}), **values}
                self.claimed[index] = dataclasses.replace(
                    record, payload={**record.payload, section: merged})

    async def enqueue(self, channel: str, recipient: str, payload: dict[str, Any],
                      submission_id: int | None = None) -> OutboxMessage:
        """A message of the channel's own (a notice, an answer) in this transaction,
        claimed for delivery right after the commit like a turn's reply, when this process
        can deliver it and nothing earlier to the same recipient waits."""
        message = enqueue(self.session, channel, recipient, payload, submission_id,
                          claim_for=self.direct(channel), now=self.service.clock())
        await self.session.flush()
        if is_claimed(message):
            self.claimed.append(record_from_row(message))
        return message


class FetchHandler:
    """The core's own channel: fetch a card URL outside any transaction, then the turn."""

    channel = FETCH_CHANNEL

    def __init__(self, service: IntakeService) -> None:
        self.service = service

    async def translate(self, event: StoredEvent) -> Inbound:
        return await self.service.fetched(str(event.payload["url"]))

    async def apply(self, unit: Unit, translated: Inbound) -> str:
        payload = unit.event.payload
        key = ConversationKey(str(payload["channel"]), str(payload["contributor_id"]))
        merge_into = payload.get("merge_into")
        await unit.turn(key, translated, merge_into=merge_into)
        if merge_into is not None:
            await self.service.release_in(unit.session, [int(merge_into)])
        return "card_fetched" if translated.kind == "file" else "card_fetch_failed"


@dataclass
class _Lane:
    """One order key's events waiting in this process, processed one at a time."""

    queue: deque[tuple[int, StoredEvent | None, bool]] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None


class EventWorker:
    """Processes the inbound log: what it is handed at once, the rest by claiming."""

    def __init__(self, inbound: InboundLog, service: IntakeService,
                 handlers: dict[str, ChannelHandler], *, lease: timedelta = timedelta(
                     seconds=120), poison_after: int = 3, concurrency: int = 4,
                 poll_seconds: float = 1.0, retry_in: timedelta = timedelta(seconds=5),
                 owner: str | None = None, take_handed_over: bool = True,
                 outbox: OutboxWorker | None = None, metrics: Metrics | None = None) -> None:
        self.log = inbound
        self.metrics = metrics or Metrics()
        self.outbox = outbox
        self._deliveries: set[asyncio.Task[int]] = set()
        self.service = service
        self.handlers = handlers
        self.handlers.setdefault(FETCH_CHANNEL, FetchHandler(service))
        self.lease = lease
        self.poison_after = poison_after
        self.poll_seconds = poll_seconds
        self.retry_in = retry_in
        self.owner = owner or secrets.token_hex(8)
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._lanes: dict[str, _Lane] = {}
        self._scheduled: set[int] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self.processed = 0
        if take_handed_over:
            inbound.listeners.append(self.hand_over)

    # -- scheduling -------------------------------------------------------------------------

    def hand_over(self, event_id: int, event: NewEvent) -> None:
        """An event this process just logged: process it now, without reading it back."""
        if event.channel not in self.handlers:
            return
        copy = StoredEvent(event_id, event.channel, event.idempotency_key, event.order_key,
                           dict(event.payload), event.raw, 0, self.log.clock())
        self._schedule(copy, claimed=False)

    def wake(self) -> None:
        """Look in the log now (another process logged something, or one was skipped)."""
        self._wake.set()

    def _schedule(self, event: StoredEvent, claimed: bool) -> None:
        if event.id in self._scheduled:
            return
        self._scheduled.add(event.id)
        self._idle.clear()
        lane = self._lanes.setdefault(event.order_key, _Lane())
        lane.queue.append((event.id, event, claimed))
        if lane.task is None or lane.task.done():
            lane.task = asyncio.create_task(self._drain(event.order_key, lane))

    async def _drain(self, order_key: str, lane: _Lane) -> None:
        try:
            while lane.queue:
                event_id, event, claimed = lane.queue[0]
                try:
                    async with self._slots:
                        with bound(channel=event.channel if event else None, event=event_id):
                            await self.process(event, claimed)
                finally:
                    lane.queue.popleft()
                    self._scheduled.discard(event_id)
        finally:
            if self._lanes.get(order_key) is lane and not lane.queue:
                del self._lanes[order_key]
            if not self._lanes:
                self._idle.set()

    # -- processing -------------------------------------------------------------------------

    async def process(self, event: StoredEvent, claimed: bool) -> str | None:
        """Translate, then one transaction: take, apply, finish. None: not ours to do."""
        handler = self.handlers.get(event.channel)
        if handler is None:
            return None
        started = time.perf_counter()
        if claimed and not await self.log.started(event.id, self.owner, self.lease):
            return None  # its lease ran out while it waited here: someone else has it
        try:
            translated = await handler.translate(event)
            async with self.service.db.transaction() as session:
                if not await self.log.take(session, event.id, self.owner):
                    self.wake()  # first in line is someone else's: look again soon
                    log_event(log, "event skipped", logging.DEBUG, channel=event.channel,
                              event=event.id)
                    return None
                unit = Unit(session, self.service, event, direct=self._direct,
                            metrics=self.metrics)
                outcome = await handler.apply(unit, translated)
                await self.log.finish(session, event.id, outcome)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - counted, retried, then set aside
            log.exception("inbound event %s (%s) failed", event.id, event.channel)
            status = await self.log.failed(event.id, error, poison_after=self.poison_after,
                                           retry_in=self.retry_in, owner=self.owner)
            log_event(log, "event failed", logging.WARNING, channel=event.channel,
                      event=event.id, status=status, error=type(error).__name__)
            self.metrics.processed.labels(
                event.channel, "poisoned" if status == "poisoned" else "failed").inc()
            self.wake()
            return "failed"
        self.processed += 1
        seconds = time.perf_counter() - started
        self.metrics.processed.labels(event.channel, outcome).inc()
        self.metrics.processing.labels(event.channel).observe(seconds)
        self.metrics.latency.labels(event.channel).observe(
            max((self.log.clock() - _aware(event.received_at)).total_seconds(), 0.0))
        log_event(log, "event processed", channel=event.channel, event=event.id,
                  outcome=outcome, ms=round(seconds * 1000, 1))
        if unit.claimed and self.outbox is not None:  # the reply leaves now, not at a poll
            task = asyncio.create_task(self.outbox.deliver_claimed(unit.claimed))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)
        for action in unit.after_commit:
            with contextlib.suppress(Exception):
                await action()
        for follow_up in unit.follow_ups:
            self._schedule(follow_up, claimed=False)
        if self.service.on_enqueued:
            self.service.on_enqueued()
        return outcome

    def _direct(self, channel: str) -> timedelta | None:
        """How long to hold a reply claimed for delivery by this process, if it can."""
        if self.outbox is None or channel not in self.outbox.deliverers:
            return None
        return self.outbox.lease

    # -- the loop ---------------------------------------------------------------------------

    async def run_once(self, limit: int = 50) -> int:
        """Claim what is due and process it; returns how many events were processed."""
        before = self.processed
        await self.log.poison_stale(self.poison_after)
        while True:
            claimed = await self.log.claim(self.owner, self.lease, limit,
                                           channels=list(self.handlers))
            fresh = [e for e in claimed if e.id not in self._scheduled]
            for event in claimed:
                if event.id in self._scheduled:
                    continue
                self._schedule(event, claimed=True)
            await self.wait_idle()
            if not fresh:
                return self.processed - before

    async def run_forever(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the database is down: try again later
                log.exception("cannot read the inbound log")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def wait_idle(self, timeout: float | None = None) -> None:
        """Until every event handed over or claimed here has been processed."""
        async with asyncio.timeout(timeout):
            while self._lanes:
                await self._idle.wait()
                if self._lanes:
                    self._idle.clear()

    async def settle(self) -> None:
        """Until processing and the deliveries it started are done (tests, shutdown)."""
        await self.wait_idle()
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def stop(self) -> None:
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        tasks += list(self._deliveries)  # a reply cut off here is sent after its lease
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
