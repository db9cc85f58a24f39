"""The inbound log and its worker: stored once, processed once, in order, nothing lost.

One contract, run on SQLite and PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from core.inbound import InboundLog, NewEvent, StoredEvent
from core.service import ConversationKey
from core.storage.database import Database
from core.storage.models import utcnow
from core.worker import EventWorker, Unit
from tests.core.transcript import make_service


class Recorder:
    """A channel whose events append to a list inside their transaction's audit log."""

    channel = "test"

    def __init__(self, fail: set[str] | None = None) -> None:
        self.applied: list[str] = []
        self.fail = fail or set()
        self.attempts: dict[str, int] = {}

    async def translate(self, stored: StoredEvent) -> str:
        return str(stored.payload["text"])

    async def apply(self, unit: Unit, text: str) -> str:
        self.attempts[text] = self.attempts.get(text, 0) + 1
        if text in self.fail:
            raise RuntimeError(f"cannot process {text}")
        await unit.service.audit_in(unit.session, actor=unit.event.order_key, channel="test",
                                    action="test.applied", detail={"text": text})
        self.applied.append(text)
        return "ok"


def new(key: str, order: str = "ada", text: str | None = None) -> NewEvent:
    return NewEvent("test", key, order, {"text": text or key})


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


def worker_for(db: Database, handler: Recorder, clock: Clock | None = None,
               **options: Any) -> tuple[InboundLog, EventWorker]:
    service = make_service(db, clock=clock or utcnow)
    inbound = InboundLog(db, clock=service.clock)
    return inbound, EventWorker(inbound, service, {"test": handler}, **options)


async def test_an_event_is_stored_once_and_processed_once(db: Database) -> None:
    handler = Recorder()
    inbound, worker = worker_for(db, handler)
    first = await inbound.append(new("m1"))
    again = await inbound.append(new("m1"))  # the sender's retry
    assert not first.duplicate and again.duplicate and again.id == first.id
    await worker.wait_idle(5)
    assert await worker.run_once() == 0
    assert handler.applied == ["m1"]
    assert (await inbound.counts()) == {"done": 1}


async def test_appends_that_arrive_together_share_one_commit(db: Database) -> None:
    commits: list[int] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    inbound, worker = worker_for(db, Recorder(), take_handed_over=False)
    results = await asyncio.gather(*(inbound.append(new(f"m{i}", f"u{i}")) for i in range(40)))
    assert len({r.id for r in results}) == 40
    assert len(commits) < 10  # grouped: far fewer commits than events



async def test_a_burst_with_retries_inside_it_stores_each_key_once(db: Database) -> None:
    """Retries in the same group commit, and of keys logged before, are duplicates."""
    handler = Recorder()
    inbound, worker = worker_for(db, handler, take_handed_over=False)
    earlier = await inbound.append(new("old", "ada"))
    burst = [new("old", "ada")] + [new(f"m{i % 30}", f"u{i % 30}") for i in range(60)]
    results = await asyncio.gather(*(inbound.append(event) for event in burst))
    assert results[0] == earlier.__class__(earlier.id, duplicate=True)
    firsts, retries = results[1:31], results[31:]
    assert not any(r.duplicate for r in firsts) and all(r.duplicate for r in retries)
    assert [r.id for r in retries] == [r.id for r in firsts]
    assert len({r.id for r in firsts} | {earlier.id}) == 31
    assert await worker.run_once() == 31
    assert sorted(handler.applied) == sorted(["old"] + [f"m{i}" for i in range(30)])

async def test_events_of_one_key_are_processed_in_order_others_side_by_side(
        db: Database) -> None:
    handler = Recorder()
    inbound, worker = worker_for(db, handler, take_handed_over=False)
    for i in range(5):
        await inbound.append(new(f"a{i}", "ada"))
        await inbound.append(new(f"b{i}", "bob"))
    assert await worker.run_once() == 10
    assert [t for t in handler.applied if t.startswith("a")] == [f"a{i}" for i in range(5)]
    assert [t for t in handler.applied if t.startswith("b")] == [f"b{i}" for i in range(5)]


async def test_a_claimed_event_is_not_taken_by_another_worker_until_its_lease_ends(
        db: Database) -> None:
    clock = Clock()
    handler = Recorder()
    inbound, worker = worker_for(db, handler, clock, take_handed_over=False)
    await inbound.append(new("m1"))
    crashed = await inbound.claim("crashed-worker", timedelta(seconds=60))
    assert [e.payload["text"] for e in crashed] == ["m1"]
    assert await worker.run_once() == 0  # leased by a worker that may still be at it
    clock.now += timedelta(seconds=61)
    assert await worker.run_once() == 1
    assert handler.applied == ["m1"]


async def test_a_later_event_waits_for_an_earlier_one_of_the_same_key(db: Database) -> None:
    clock = Clock()
    handler = Recorder()
    inbound, worker = worker_for(db, handler, clock, take_handed_over=False)
    await inbound.append(new("first"))
    await inbound.claim("slow-worker", timedelta(seconds=60))
    await inbound.append(new("second"))
    assert await worker.run_once() == 0  # "second" must not overtake "first"
    clock.now += timedelta(seconds=61)
    assert await worker.run_once() == 2
    assert handler.applied == ["first", "second"]


async def test_a_failing_event_is_retried_then_set_aside_and_can_be_retried(
        db: Database) -> None:
    clock = Clock()
    handler = Recorder(fail={"bad"})
    inbound, worker = worker_for(db, handler, clock, take_handed_over=False,
                                 retry_in=timedelta(seconds=5))
    await inbound.append(new("bad"))
    await inbound.append(new("good", "ada"))
    for _ in range(3):
        await worker.run_once()
        clock.now += timedelta(seconds=6)
    await worker.run_once()
    assert handler.attempts["bad"] == 3
    poisoned = await inbound.lines(status="poisoned")
    assert [line.id for line in poisoned] and "cannot process bad" in (poisoned[0].error or "")
    assert handler.applied == ["good"]  # a poisoned event does not silence the rest
    handler.fail.clear()
    assert await inbound.retry() == 1
    assert await worker.run_once() == 1
    assert handler.applied == ["good", "bad"]


async def test_an_event_that_keeps_killing_the_worker_is_set_aside(db: Database) -> None:
    """A hard crash rolls the turn back; its claim still counted, so a crash loop ends."""
    clock = Clock()
    handler = Recorder()
    inbound, worker = worker_for(db, handler, clock, take_handed_over=False)
    await inbound.append(new("deadly"))
    for crash in range(3):
        claimed = await inbound.claim(f"worker-{crash}", timedelta(seconds=60))
        assert len(claimed) == 1
        assert await inbound.started(claimed[0].id, f"worker-{crash}", timedelta(seconds=60))
        clock.now += timedelta(seconds=61)  # its turn began, then the process died
    assert await worker.run_once() == 0
    assert [line.status for line in await inbound.lines()] == ["poisoned"]
    assert handler.applied == []


async def test_waiting_in_a_claimed_batch_through_crashes_is_no_fault(db: Database) -> None:
    """Events claimed by workers that died before their turn came are not poisoned."""
    clock = Clock()
    handler = Recorder()
    inbound, worker = worker_for(db, handler, clock, take_handed_over=False)
    await inbound.append(new("innocent"))
    for crash in range(5):
        assert await inbound.claim(f"worker-{crash}", timedelta(seconds=60))
        clock.now += timedelta(seconds=61)
    assert await worker.run_once() == 1
    assert handler.applied == ["innocent"]
    assert [(line.status, line.attempts) for line in await inbound.lines()] == [("done", 1)]


async def test_two_workers_on_one_database_process_each_event_once(
        db: Database, tmp_path: Any) -> None:
    other_db = Database(db.url)
    try:
        first, second = Recorder(), Recorder()
        inbound, worker_a = worker_for(db, first, take_handed_over=False)
        _other_log, worker_b = worker_for(other_db, second, take_handed_over=False)
        for i in range(60):
            await inbound.append(new(f"m{i:02d}", f"user{i % 7}"))
        await asyncio.gather(worker_a.run_once(limit=5), worker_b.run_once(limit=5))
        while (await inbound.counts()).get("pending"):
            await asyncio.gather(worker_a.run_once(limit=5), worker_b.run_once(limit=5))
        applied = first.applied + second.applied
        assert sorted(applied) == [f"m{i:02d}" for i in range(60)]
        for user in range(7):  # each key's events in order, whichever worker took them
            mine = [int(t[1:]) for t in applied if int(t[1:]) % 7 == user]
            assert sorted(mine) == [int(t[1:]) for t in sorted(applied) if int(t[1:]) % 7 == user]
    finally:
        await other_db.dispose()


async def test_a_turn_and_its_event_commit_together(db: Database) -> None:
    """A chat line: the answer is stored and the event done in one transaction."""

    class Chat:
        channel = "test"

        async def translate(self, stored: StoredEvent) -> str:
            return str(stored.payload["text"])

        async def apply(self, unit: Unit, text: str) -> str:
            from core.conversation import Inbound

            await unit.turn(ConversationKey("chat", "ada"), Inbound("text", text=text))
            if text == "explode":
                raise RuntimeError("after the turn")
            return "turn"

    service = make_service(db)
    inbound = InboundLog(db)
    worker = EventWorker(inbound, service, {"test": Chat()}, take_handed_over=False)
    await inbound.append(NewEvent("test", "k1", "ada", {"text": "Ocean Temps"}))
    await inbound.append(NewEvent("test", "k2", "ada", {"text": "explode"}))
    await worker.run_once()
    lines = {line.id: line for line in await inbound.lines()}
    assert [line.status for line in lines.values()] == ["done", "pending"]
    from sqlalchemy import func, select

    from core.storage.models import OutboxMessage
    async with db.transaction() as session:
        replies = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert replies == 1  # the exploded turn queued nothing


@pytest.mark.parametrize("bad", ["x" * 600])
async def test_an_overlong_key_is_cut_not_refused(db: Database, bad: str) -> None:
    inbound, _worker = worker_for(db, Recorder(), take_handed_over=False)
    assert not (await inbound.append(new(bad))).duplicate
    assert (await inbound.append(new(bad))).duplicate


async def test_an_event_costs_three_commits_log_turn_delivered(db: Database) -> None:
    """The reply is claimed in the turn's transaction and sent right after it commits."""
    from core.chat import ChatHandler
    from core.outbox import OutboundRecord, OutboxWorker

    delivered: list[OutboundRecord] = []
    arrived = asyncio.Event()

    async def deliver(record: OutboundRecord) -> None:
        delivered.append(record)
        arrived.set()

    service = make_service(db)
    inbound = InboundLog(db)
    outbox = OutboxWorker(db, {"chat": deliver})
    worker = EventWorker(inbound, service, {"chat": ChatHandler()}, outbox=outbox)
    await inbound.append(NewEvent("chat", "warm-up", "ada", {"contributor_id": "ada",
                                                              "kind": "resume"}))
    await worker.wait_idle(5)
    async with asyncio.timeout(5):
        await arrived.wait()
    await worker.settle()
    commits: list[int] = []
    statements: list[str] = []
    event.listen(db.engine.sync_engine, "commit", lambda _conn: commits.append(1))
    event.listen(db.engine.sync_engine, "before_cursor_execute",
                 lambda _c, _cur, sql, *_a: statements.append(sql.split()[0] + " " + sql[:60]))
    arrived.clear()
    await inbound.append(NewEvent("chat", "line-1", "ada", {"contributor_id": "ada",
                                                             "kind": "text",
                                                             "text": "Ocean Temps"}))
    await worker.wait_idle(5)
    async with asyncio.timeout(5):
        await arrived.wait()
    await worker.settle()
    assert len(delivered) == 2 and "Ocean Temps" in str(delivered[-1].payload)
    assert len(commits) == 3, statements  # the log, the turn (reply claimed in it), delivered
    assert await outbox.run_once() == 0  # nothing left for a claim transaction to take
