"""The loop guard's rule, on its own and for any channel: only replies that answer
nothing new are capped; progress and new words always get an answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from core import loops
from core.conversation import Answers, CardFile, ConversationState, Inbound, Phase
from core.outbox import enqueue
from core.storage.database import Database
from core.storage.models import OutboxMessage

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


class Channel:
    """Replies queued to one recipient on one channel, each decided by the guard."""

    def __init__(self, db: Database, channel: str = "slack", limit: int = 2) -> None:
        self.db, self.channel, self.limit = db, channel, limit

    async def reply_to(self, text: str, *, progressed: bool = False,
                       at: datetime = T0) -> bool:
        """Queue a reply to ``text``; True when the guard holds it back."""
        async with self.db.transaction() as session:
            row = enqueue(session, self.channel, "U1", {"parts": [], "choices": None},
                          now=at)
            await session.flush()
            held = await loops.hold_back(session, outbox_id=row.id,
                                         heard=loops.heard_in(Inbound(text=text)),
                                         progressed=progressed, limit=self.limit,
                                         window=HOUR, now=at)
            if held:
                await loops.suppress(session, row.id)
        return held


def test_what_counts_as_heard_before() -> None:
    same = loops.heard_in(Inbound(text="Ticket #41 received.  We will answer SOON."))
    assert same == loops.heard_in(Inbound(text="ticket #42 received. we will answer soon."))
    assert same != loops.heard_in(Inbound(text="Ticket #41 received. We answer soon."))
    card = CardFile("README.md", b"---\n---\n")
    assert loops.heard_in(Inbound(text="x", file=card)) != loops.heard_in(Inbound(text="x"))


def test_what_counts_as_progress() -> None:
    before = ConversationState(phase=Phase.COLLECTING, answers={"name": "Ocean"}, turns=3)
    assert not loops.made_progress(before, before.model_copy(update={"turns": 4}))
    assert loops.made_progress(before, before.model_copy(
        update={"answers": Answers(name="Ocean", location="https://example.org")}))
    # A card URL to fetch is progress too, though it is no answer yet.
    assert loops.made_progress(before, before.model_copy(
        update={"card_url": "https://example.org/README.md"}))
    # The same state stored the old way (card_url inside answers) is no progress.
    fetching = before.model_copy(update={"card_url": "https://example.org/README.md"})
    assert not loops.made_progress(fetching, {
        "phase": "collecting", "turns": 3,
        "answers": {"name": "Ocean", "card_url": "https://example.org/README.md"}})
    assert loops.made_progress(before, before.model_copy(update={"phase": Phase.CONFIRMING}))
    assert loops.made_progress(None, before)


async def test_only_repeats_past_the_cap_are_held_back(db: Database) -> None:
    guard = Channel(db, limit=2)
    assert [await guard.reply_to("out of office") for _ in range(5)] == [
        False, False, False, True, True]  # the first is new; then two repeats; then held
    assert not await guard.reply_to("a real question for you")  # new words: answered
    assert not await guard.reply_to("out of office", progressed=True)  # progress: answered
    async with db.transaction() as session:
        rows = list((await session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == "slack").order_by(OutboxMessage.id))).all())
    assert [r.status for r in rows].count(loops.SUPPRESSED) == 2
    held = [r for r in rows if r.status == loops.SUPPRESSED]
    assert all(r.payload["guard"] == {"heard": held[0].payload["guard"]["heard"],
                                      "new": False, "repeats_sent": 2, "limit": 2}
               for r in held)


async def test_a_person_writing_something_new_each_time_is_never_held(db: Database) -> None:
    guard = Channel(db, channel="mail", limit=1)
    said = [await guard.reply_to(f"try {word}") for word in (
        "one", "two", "three", "four", "five", "six", "seven", "eight")]
    assert said == [False] * 8


async def test_the_cap_is_per_hour_and_can_be_off(db: Database) -> None:
    guard = Channel(db, limit=1)
    assert [await guard.reply_to("ping") for _ in range(3)] == [False, False, True]
    later = T0 + HOUR + timedelta(minutes=1)  # the window has passed: a fresh start
    assert [await guard.reply_to("ping", at=later) for _ in range(2)] == [False, False]
    off = Channel(db, channel="chat", limit=0)
    assert [await off.reply_to("ping") for _ in range(5)] == [False] * 5

