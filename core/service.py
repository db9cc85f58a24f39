"""The intake service: runs one conversation turn in one transaction.

Load the state (locked), call ``step``, carry out its effects (store the card, create
the submission, audit), save the state and queue the reply in the outbox, all
committed together. Fetching a card URL happens after the commit, outside any lock on
the database, and comes back as a second turn.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core import confirmations
from core.conversation import (
    Audit,
    CardFile,
    ConversationState,
    FetchCard,
    HoldForConfirmation,
    Inbound,
    Part,
    Phase,
    Relay,
    Reply,
    StepContext,
    StoreCard,
    Submit,
    Withdraw,
    step,
)
from core.loops import made_progress
from core.outbox import FORGET, OutboundRecord, enqueue, is_claimed, record_from_row
from core.status import Move, next_status
from core.storage.database import Database
from core.storage.models import (
    AuditEntry,
    CardVersion,
    Conversation,
    InboundEvent,
    OutboxMessage,
    ReferenceNumber,
    Submission,
    utcnow,
)

log = logging.getLogger(__name__)
REVIEW_CHANNEL = "review"
CardFetcher = Callable[[str], Awaitable[CardFile]]


class CardFetchFailed(Exception):
    """Raised by a card fetcher with a reason a contributor can read."""


@dataclass(frozen=True)
class ConversationKey:
    """Whose conversation: a channel (``slack``, ``mail``, ``chat``) and an id in it."""

    channel: str
    contributor_id: str


@dataclass
class TurnOutcome:
    """What one inbound event led to; ``duplicate`` when it had been processed before."""

    duplicate: bool = False
    state: ConversationState | None = None
    replies: list[dict[str, Any]] = field(default_factory=list)
    outbox_ids: list[int] = field(default_factory=list)
    submission_reference: str | None = None
    claimed: list[OutboundRecord] = field(default_factory=list)  # to deliver after commit
    progressed: bool = False  # an answer, a card, the phase or a submission changed


def confirm_hours(valid_for: timedelta) -> int:
    """How long a confirmation request lasts, in whole hours, for the texts."""
    return max(1, round(valid_for.total_seconds() / 3600))


def format_reference(number: int) -> str:
    return f"OTDI-{number:04d}"


class IntakeService:
    """The one entry point adapters call with a contributor's event."""

    def __init__(self, db: Database, *, check_card: Callable[[bytes, str | None], Any],
                 fetch_card: CardFetcher | None = None,
                 card_url_for_location: Callable[[str], str | None] = lambda _: None,
                 clock: Callable[[], datetime] = utcnow,
                 on_enqueued: Callable[[], None] | None = None,
                 require_sender_auth: bool = False,
                 confirm_within: timedelta = timedelta(hours=24)) -> None:
        self.db = db
        self.require_sender_auth = require_sender_auth
        self.confirm_within = confirm_within
        self.check_card = check_card
        self.fetch_card = fetch_card
        self.card_url_for_location = card_url_for_location
        self.clock = clock
        self.on_enqueued = on_enqueued
        self._locks: dict[ConversationKey, asyncio.Lock] = {}

    def _lock(self, key: ConversationKey) -> asyncio.Lock:
        # One turn at a time per conversation in this process; across processes the row
        # lock (PostgreSQL) or SQLite's single writer does the same.
        return self._locks.setdefault(key, asyncio.Lock())

    async def handle(self, key: ConversationKey, event: Inbound, *,
                     source: str | None = None, external_id: str | None = None,
                     ) -> TurnOutcome:
        """One turn in a transaction of its own, card URLs fetched in between: the path of
        tests and benchmarks that drive the core without the inbound log (adapters log
        their events and the worker calls ``turn_in``). A repeated ``(source,
        external_id)`` does nothing."""
        async with self._lock(key):
            try:
                outcome, fetches = await self._turn(key, event, source, external_id)
            except IntegrityError:
                if external_id is None:
                    raise
                return TurnOutcome(duplicate=True)  # a concurrent delivery won the race
            for fetch in fetches:
                follow_up = await self._fetch(fetch.url)
                more, _ = await self._turn(key, follow_up, None, None, merge_into=(
                    outcome.outbox_ids[-1] if outcome.outbox_ids else None))
                outcome.replies += more.replies
                outcome.outbox_ids += more.outbox_ids
                outcome.state = more.state
                outcome.submission_reference = (more.submission_reference
                                                or outcome.submission_reference)
        if self.on_enqueued and outcome.outbox_ids:
            self.on_enqueued()
        return outcome

    async def hold_in(self, session: AsyncSession, outbox_ids: list[int],
                      seconds: float) -> None:
        """Keep these replies from the outbox worker for a while (a follow-up joins them)."""
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(outbox_ids), OutboxMessage.status == "pending")
            .values(next_attempt_at=self.clock() + timedelta(seconds=seconds)))

    async def release_in(self, session: AsyncSession, outbox_ids: list[int]) -> None:
        """Held replies may go now (inside the caller's transaction)."""
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(outbox_ids), OutboxMessage.status == "pending")
            .values(next_attempt_at=self.clock()))

    async def fetched(self, url: str) -> Inbound:
        """The card at ``url`` as a ``file`` event, or why it could not be had."""
        return await self._fetch(url)

    async def _fetch(self, url: str) -> Inbound:
        if self.fetch_card is None:
            return Inbound("card_fetch_failed")  # no reason: fetching is not enabled here
        try:
            card = await self.fetch_card(url)
        except CardFetchFailed as error:
            return Inbound("card_fetch_failed", text=str(error))
        return Inbound("file", file=card)

    async def _turn(self, key: ConversationKey, event: Inbound, source: str | None,
                    external_id: str | None, merge_into: int | None = None,
                    ) -> tuple[TurnOutcome, list[FetchCard]]:
        async with self.db.transaction() as session:
            if external_id is not None and source is not None:
                if await self._seen(session, source, external_id):
                    return TurnOutcome(duplicate=True), []
                session.add(InboundEvent(source=source, external_id=external_id[:998]))
                await session.flush()
            return await self.turn_in(session, key, event, merge_into=merge_into)

    async def turn_in(self, session: AsyncSession, key: ConversationKey, event: Inbound, *,
                      merge_into: int | None = None, claim_for: timedelta | None = None,
                      event_id: int | None = None,
                      ) -> tuple[TurnOutcome, list[FetchCard]]:
        """One turn inside the caller's transaction (the worker's, one per inbound event):
        load the state locked, ``step``, carry out the effects, save, queue the reply.

        Card URLs to fetch are returned, not fetched: the caller fetches them outside the
        transaction and comes back with a second turn that merges into this reply.
        With ``claim_for`` the reply is written already claimed (when nothing earlier to
        the same person waits) and returned in ``claimed``, for the caller to deliver
        right after its commit: no claim transaction of the outbox worker's.
        ``event_id`` is the inbound event this turn answers: the one kept when the
        conversation holds it for a confirmation.
        """
        conversation = await self._load_conversation(session, key)
        state = ConversationState.model_validate(conversation.state or {})
        status = None
        if state.submission_id is not None:
            status = await session.scalar(select(Submission.status).where(
                Submission.id == state.submission_id))
        ctx = StepContext(now=self.clock(), check_card=self.check_card,
                          card_url_for_location=self.card_url_for_location,
                          submission_status=status,
                          require_sender_auth=self.require_sender_auth)
        result = step(state, event, ctx)
        new_state, reply = result.state, result.reply
        await self._keep_reference(session, conversation, state, new_state)
        fetches: list[FetchCard] = []
        outcome = TurnOutcome(state=new_state, progressed=made_progress(state, new_state))
        from_state = state.phase
        stored: CardVersion | None = None
        confirm_token: str | None = None
        for effect in result.effects:
            if isinstance(effect, StoreCard):
                stored = await self._store_card(session, conversation, new_state, effect)
            elif isinstance(effect, Relay | Withdraw):
                await self._after_submission(session, key, new_state, effect, stored)
            elif isinstance(effect, Audit):
                await self._audit(session, key, conversation, new_state, effect)
            elif isinstance(effect, FetchCard):
                fetches.append(effect)
            elif isinstance(effect, HoldForConfirmation):
                confirm_token = await self._hold(session, key, new_state, effect, event_id,
                                                 reply)
            elif isinstance(effect, Submit):
                submission = await self._submit(session, key, conversation, new_state,
                                                from_state)
                outcome.submission_reference = submission.reference
                reply.add("submitted", reference=submission.reference,
                          name=submission.name, email=submission.email)
        await self._point_out_name_reuse(session, new_state, result.effects, reply)
        conversation.state = new_state.model_dump(mode="json")
        conversation.updated_at = self.clock()
        payload = reply.to_dict()
        payload["reference"] = new_state.reference
        if confirm_token is not None:
            payload["confirm"] = confirm_token
            payload[FORGET] = ["confirm"]  # only its hash stays once it is sent
        outcome.replies.append(payload)
        if merge_into is not None and await self._merge(session, merge_into, payload):
            return outcome, fetches
        message = enqueue(session, key.channel, key.contributor_id, payload,
                          submission_id=new_state.submission_id, now=self.clock(),
                          claim_for=None if fetches else claim_for)
        await session.flush()
        outcome.outbox_ids.append(message.id)
        if claim_for is not None and not fetches and is_claimed(message):
            outcome.claimed.append(record_from_row(message))
        return outcome, fetches

    async def _hold(self, session: AsyncSession, key: ConversationKey,
                    state: ConversationState, effect: HoldForConfirmation,
                    event_id: int | None, reply: Reply) -> str:
        """Keep the event for a confirmation from the address on record (the key's: the
        reply goes there); the token rides in the reply for the adapter to address."""
        token = await confirmations.hold_in(
            session, channel=key.channel, contributor_id=key.contributor_id,
            purpose="contributor", action=str(effect.action), reference=state.reference,
            event_id=event_id, now=self.clock(), valid_for=self.confirm_within)
        for part in reply.parts:
            if part.template == "confirmation_needed":
                part.context["hours"] = confirm_hours(self.confirm_within)
        log.warning("held a %s by an unverified sender (%s) on %s until the address on "
                    "record confirms it", effect.action, key.channel,
                    state.reference or "a draft")
        return token

    async def _keep_reference(self, session: AsyncSession, conversation: Conversation,
                              before: ConversationState, after: ConversationState) -> None:
        """A draft has its reference from its first turn: every reply (and e-mail subject)
        names it, like a help desk's ticket number. A draft cancelled or restarted keeps
        its number (the same conversation, the same thread; an undo finds it unchanged);
        a new contribution after a submission takes a new one."""
        if after.reference is not None or after.submission_id is not None \
                or after.phase is Phase.NEW:
            return
        if before.reference is not None and before.submission_id is None:
            after.reference = before.reference
            return
        after.reference = await self._new_reference(session, conversation)

    async def _new_reference(self, session: AsyncSession, conversation: Conversation) -> str:
        """The next number: one insert, so concurrent drafts never wait for each other."""
        number = ReferenceNumber(conversation_id=conversation.id, created_at=self.clock())
        session.add(number)
        await session.flush()
        return format_reference(number.id)

    async def _merge(self, session: AsyncSession, outbox_id: int,
                     payload: dict[str, Any]) -> bool:
        """Add a follow-up (the card fetched by URL) to the reply not yet sent, so the
        contributor gets one message; its question replaces the earlier one."""
        row = await session.get(OutboxMessage, outbox_id, with_for_update=not self.db.is_sqlite)
        if row is None or row.status != "pending":
            return False
        first = dict(row.payload)
        parts = list(first.get("parts", []))
        while parts and parts[-1]["template"] == "ask":
            parts.pop()
        row.payload = {**first, "parts": parts + payload["parts"],
                       "choices": payload["choices"], "reference": payload["reference"]}
        return True

    @staticmethod
    async def _seen(session: AsyncSession, source: str, external_id: str) -> bool:
        found = await session.scalar(select(InboundEvent.id).where(
            InboundEvent.source == source, InboundEvent.external_id == external_id[:998]))
        return found is not None

    async def _load_conversation(self, session: AsyncSession,
                                 key: ConversationKey) -> Conversation:
        """The conversation row, created if new, locked for this transaction."""
        query = select(Conversation).where(Conversation.channel == key.channel,
                                           Conversation.contributor_id == key.contributor_id)
        if not self.db.is_sqlite:
            query = query.with_for_update()
        query = query.execution_options(populate_existing=True)
        found = (await session.scalars(query)).first()
        if found is not None:  # the usual case: one statement, not two
            return found
        dialect_insert = sqlite_insert if self.db.is_sqlite else pg_insert
        now = self.clock()
        await session.execute(
            dialect_insert(Conversation)
            .values(channel=key.channel, contributor_id=key.contributor_id, state={},
                    created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["channel", "contributor_id"]))
        return (await session.scalars(query)).one()

    async def _store_card(self, session: AsyncSession, conversation: Conversation,
                          state: ConversationState, effect: StoreCard) -> CardVersion:
        report = effect.report
        version = CardVersion(conversation_id=conversation.id,
                              submission_id=state.submission_id,
                              filename=effect.file.filename[:255], content=effect.file.data,
                              sha256=report.get("sha256", ""), size=len(effect.file.data),
                              source_url=effect.file.source_url, report=report)
        session.add(version)
        await session.flush()
        if state.card is not None and state.card.sha256 == version.sha256:
            state.card.version_id = version.id
        if state.submission_id is not None:
            submission = await session.get(Submission, state.submission_id)
            if submission is not None and report.get("readable", True):
                submission.card_version_id = version.id
                submission.updated_at = self.clock()
        return version

    async def _after_submission(self, session: AsyncSession, key: ConversationKey,
                                state: ConversationState, effect: Relay | Withdraw,
                                card: CardVersion | None) -> None:
        """A contributor's word after submitting goes to the reviewers' thread."""
        submission = await session.get(Submission, state.submission_id,
                                       with_for_update=not self.db.is_sqlite)
        if submission is None:
            return
        before = submission.status
        if isinstance(effect, Withdraw):
            after = next_status(before, Move.WITHDRAW) or before
            payload: dict[str, Any] = {"kind": "review.status", "status": after,
                                       "decision": "withdraw", "by": key.contributor_id}
        else:
            after = next_status(before, Move.CONTRIBUTOR_WROTE) or before
            payload = {"kind": "review.relay", "status": after, "text": effect.text,
                       "filename": effect.filename,
                       "card_version_id": card.id if card else None, "report": effect.report,
                       "from": key.contributor_id, "from_channel": key.channel}
        if after != before:
            submission.status = after
            submission.updated_at = self.clock()
        session.add(AuditEntry(
            submission_id=submission.id, actor=key.contributor_id, channel=key.channel,
            action="withdrawn" if isinstance(effect, Withdraw) else "contributor.message",
            from_state=before if after != before else None,
            to_state=after if after != before else None,
            detail={"text": effect.text[:2000], "filename": effect.filename}
            if isinstance(effect, Relay) else {}, created_at=self.clock()))
        enqueue(session, REVIEW_CHANNEL, REVIEW_CHANNEL,
                {**payload, "reference": submission.reference}, submission_id=submission.id)

    async def _audit(self, session: AsyncSession, key: ConversationKey,
                     conversation: Conversation, state: ConversationState,
                     effect: Audit, from_state: str | None = None,
                     to_state: str | None = None) -> None:
        session.add(AuditEntry(submission_id=state.submission_id,
                               conversation_id=conversation.id, actor=key.contributor_id,
                               channel=key.channel, action=effect.action,
                               from_state=from_state, to_state=to_state,
                               detail=_jsonable(effect.detail), created_at=self.clock()))

    async def _submit(self, session: AsyncSession, key: ConversationKey,
                      conversation: Conversation, state: ConversationState,
                      from_state: str) -> Submission:
        answers = state.answers
        # The conversation submits only with nothing missing (ConversationState.missing).
        assert answers.modalities is not None and answers.domain is not None \
            and answers.consent is not None, answers.given()
        now = self.clock()
        submission = Submission(
            status="submitted", name=answers.name, location=answers.location,
            hosting=answers.hosting, modalities=list(answers.modalities),
            domain=answers.domain.value, domain_is_suggestion=answers.domain.is_suggestion,
            email=answers.email, consent_at=answers.consent.at,
            channel=key.channel, contributor_id=key.contributor_id,
            conversation_id=conversation.id,
            card_version_id=state.card.version_id if state.card else None,
            card_url=state.card_url, reply_token=secrets.token_hex(12),
            extra={"card_errors_acknowledged": state.card_errors_acknowledged},
            created_at=now, updated_at=now)
        session.add(submission)
        await session.flush()
        submission.reference = state.reference or await self._new_reference(session,
                                                                            conversation)
        state.reference = submission.reference
        state.submission_id = submission.id
        if state.card and state.card.version_id:
            version = await session.get(CardVersion, state.card.version_id)
            if version is not None:
                version.submission_id = submission.id
        # The draft's history (its answers, its cards) becomes the submission's history.
        await session.execute(update(AuditEntry).where(
            AuditEntry.conversation_id == conversation.id,
            AuditEntry.submission_id.is_(None)).values(submission_id=submission.id))
        await self._audit(session, key, conversation, state,
                          Audit("submitted", {"reference": submission.reference}),
                          from_state="draft", to_state="submitted")
        enqueue(session, REVIEW_CHANNEL, REVIEW_CHANNEL,
                {"kind": "review.open", "reference": submission.reference},
                submission_id=submission.id)
        return submission

    async def _point_out_name_reuse(self, session: AsyncSession, state: ConversationState,
                                    effects: list[Any], reply: Reply) -> None:
        """A name already used by another submission is pointed out, not refused."""
        names = [e.detail["value"] for e in effects if isinstance(e, Audit)
                 and e.action == "field.set" and e.detail.get("field") == "name"]
        if not names:
            return
        query = select(Submission.reference).where(
            func.lower(Submission.name) == names[-1].lower())
        if state.submission_id is not None:
            query = query.where(Submission.id != state.submission_id)
        others = list((await session.scalars(query.order_by(Submission.id))).all())
        if others:
            position = max(len(reply.parts) - 1, 0)
            reply.parts.insert(position, Part("name_taken", {"name": names[-1],
                                                             "references": others}))

    async def record(self, *, actor: str, channel: str, action: str,
                     submission_id: int | None = None, detail: dict[str, Any] | None = None,
                     from_state: str | None = None, to_state: str | None = None) -> None:
        """An audit row for something an adapter saw (a bounce, a refused sender)."""
        async with self.db.transaction() as session:
            await self.audit_in(session, actor=actor, channel=channel, action=action,
                                submission_id=submission_id, detail=detail,
                                from_state=from_state, to_state=to_state)

    async def audit_in(self, session: AsyncSession, *, actor: str, channel: str, action: str,
                       submission_id: int | None = None, detail: dict[str, Any] | None = None,
                       from_state: str | None = None, to_state: str | None = None) -> None:
        """The same audit row inside the caller's transaction (an inbound event's)."""
        session.add(AuditEntry(submission_id=submission_id, actor=actor, channel=channel,
                               action=action, detail=_jsonable(detail or {}),
                               from_state=from_state, to_state=to_state,
                               created_at=self.clock()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
