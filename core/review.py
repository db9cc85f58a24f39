"""Reviewer decisions on submissions: who may decide, which transitions exist, who is told.

Channel-neutral: the Slack and e-mail review adapters call ``ReviewDesk`` with a
``Reviewer`` and the channel's facts about them (``ReviewerFacts``: the configured
reviewers, review channel membership), and ``may_decide`` judges; the desk checks the
rest (own submission, state), writes the audit row and queues the messages (the
contributor on their channel, the review thread) in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from core.logs import event as log_event
from core.metrics import Metrics, after_commit
from core.outbox import enqueue
from core.service import REVIEW_CHANNEL
from core.status import FINAL, OPEN, Move, Status, next_status  # noqa: F401 - re-exported
from core.storage.database import Database
from core.storage.models import AuditEntry, CardVersion, Submission, utcnow

log = logging.getLogger(__name__)


class Decision(StrEnum):
    APPROVE = "approve"
    CHANGES = "changes"
    REJECT = "reject"
    ASK = "ask"


# A reviewer's thread reply that starts with this goes to the contributor (as a question).
CONTRIBUTOR_PREFIX = "to contributor:"

NEEDS_TEXT = {Decision.CHANGES, Decision.REJECT, Decision.ASK}
CONTRIBUTOR_TEMPLATE = {
    Decision.APPROVE: "decision_approved", Decision.CHANGES: "decision_changes_requested",
    Decision.REJECT: "decision_rejected", Decision.ASK: "reviewer_question",
}


@dataclass(frozen=True)
class Reviewer:
    """Someone acting on a submission: a Slack user id or an e-mail address."""

    id: str
    channel: str
    name: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class DecisionResult:
    """``refused`` names the template explaining why (``review_refused_*``)."""

    reference: str
    status: str
    applied: bool
    refused: str | None = None
    decided_by: str | None = None


@dataclass(frozen=True)
class ReviewerFacts:
    """What a channel knows about the person acting, for ``may_decide`` to judge.

    ``listed``: the configured reviewers (``INTAKE_REVIEWERS``, Slack user ids);
    ``in_review_channel``: whether they are a member of the review channel, None when
    the channel could not tell (a failed look-up) or was not asked.
    """

    listed: frozenset[str] = frozenset()
    in_review_channel: bool | None = None


def may_decide(reviewer: Reviewer, facts: ReviewerFacts) -> bool:
    """Listed reviewers when a list is configured, else the review channel's members;
    unknown membership refuses rather than guesses."""
    if facts.listed:
        return reviewer.id in facts.listed
    return facts.in_review_channel is True


def parse_decision(text: str) -> tuple[Decision, str] | None:
    """A reviewer's e-mail or thread line: ``approve``, ``changes: ...``, ``reject: ...``,
    ``ask: ...`` (case-insensitive; ``request changes``/``question`` accepted)."""
    first, _, rest = text.strip().partition("\n")
    head, sep, tail = first.partition(":")
    word = head.strip().lower().rstrip(".!")
    aliases = {"approve": Decision.APPROVE, "approved": Decision.APPROVE,
               "changes": Decision.CHANGES, "request changes": Decision.CHANGES,
               "changes requested": Decision.CHANGES, "reject": Decision.REJECT,
               "rejected": Decision.REJECT, "ask": Decision.ASK, "question": Decision.ASK}
    if word not in aliases:
        return None
    body = (tail if sep else "").strip()
    if rest.strip():
        body = f"{body}\n{rest.strip()}".strip()
    return aliases[word], body


class ReviewDesk:
    """Applies reviewer decisions exactly once and tells everyone concerned."""

    def __init__(self, db: Database, clock: Callable[[], datetime] = utcnow,
                 metrics: Metrics | None = None) -> None:
        self.db = db
        self.clock = clock
        self.metrics = metrics or Metrics()

    async def _locked(self, session: Any, reference: str) -> Submission | None:
        query = select(Submission).where(Submission.reference == reference)
        if not self.db.is_sqlite:
            query = query.with_for_update()
        return await session.scalar(query)

    async def decide(self, reference: str, reviewer: Reviewer, decision: Decision,
                     text: str = "", *, is_reviewer: bool) -> DecisionResult:
        """Apply one decision; a second click or a concurrent one is refused, not doubled."""
        async with self.db.transaction() as session:
            return await self.decide_in(session, reference, reviewer, decision, text,
                                        is_reviewer=is_reviewer)

    async def decide_in(self, session: Any, reference: str, reviewer: Reviewer,
                        decision: Decision, text: str = "", *,
                        is_reviewer: bool | None = None,
                        facts: ReviewerFacts | None = None) -> DecisionResult:
        """``decide`` inside the caller's transaction (the inbound worker's, one per event);
        with ``facts``, whether they may decide is judged here (``may_decide``)."""
        if facts is not None:
            is_reviewer = may_decide(reviewer, facts)
        text = text.strip()
        result = await self._decide_in(session, reference, reviewer, decision, text,
                                       is_reviewer)
        self._record(session, reviewer, decision, result)
        return result

    def _record(self, session: Any, reviewer: Reviewer, decision: Decision,
                result: DecisionResult) -> None:
        """One log line and one count per decision, once its transaction commits
        (who, what, the outcome; never the reviewer's text)."""
        outcome = "applied" if result.applied else (result.refused or "refused").removeprefix(
            "review_refused_")

        def record() -> None:
            self.metrics.decisions.labels(str(decision), reviewer.channel, outcome).inc()
            log_event(log, "decision", reference=result.reference, decision=str(decision),
                      by=reviewer.id, channel=reviewer.channel, outcome=outcome,
                      status=str(result.status) or None)

        after_commit(session, record)

    async def _decide_in(self, session: Any, reference: str, reviewer: Reviewer,
                         decision: Decision, text: str, is_reviewer: bool | None
                         ) -> DecisionResult:
        submission = await self._locked(session, reference)
        if submission is None:
            return DecisionResult(reference, "", False, "review_refused_unknown")
        status = Status(submission.status)

        def refuse(reason: str, by: str | None = None) -> DecisionResult:
            return DecisionResult(reference, status, False, reason, by)

        if not is_reviewer:
            return refuse("review_refused_not_reviewer")
        if _is_contributor(submission, reviewer):
            return refuse("review_refused_own_submission")
        new_status = next_status(status, Move(decision))
        if new_status is None:  # decided already: the table has no way out of it
            return refuse("review_refused_already_decided",
                          await self._decided_by(session, submission))
        if decision in NEEDS_TEXT and not text:
            return refuse("review_refused_needs_text")
        moved = new_status != status
        submission.status = new_status
        submission.updated_at = self.clock()
        session.add(AuditEntry(
            submission_id=submission.id, actor=reviewer.id, channel=reviewer.channel,
            action=f"review.{decision}", from_state=status if moved else None,
            to_state=new_status if moved else None,
            detail={"text": text[:4000], "reviewer": reviewer.name or reviewer.id},
            created_at=self.clock()))
        context = {"reference": reference, "name": submission.name, "text": text,
                   "hosting": submission.hosting, "domain": submission.domain,
                   "domain_is_suggestion": submission.domain_is_suggestion,
                   "modalities": list(submission.modalities)}
        enqueue(session, submission.channel, submission.contributor_id,
                {"parts": [{"template": CONTRIBUTOR_TEMPLATE[decision],
                            "context": context}],
                 "choices": None, "reference": reference},
                submission_id=submission.id)
        enqueue(session, REVIEW_CHANNEL, REVIEW_CHANNEL,
                {"kind": "review.status", "reference": reference, "status": new_status,
                 "decision": str(decision), "by": reviewer.name or reviewer.id,
                 "by_id": reviewer.id, "text": text}, submission_id=submission.id)
        return DecisionResult(reference, new_status, True)

    async def thread_opened(self, reference: str, thread: dict[str, Any]) -> None:
        """The review thread exists: remember where, and the submission is in review."""
        async with self.db.transaction() as session:
            submission = await self._locked(session, reference)
            if submission is None:
                return
            submission.extra = {**(submission.extra or {}), "review_thread": thread}
            if thread.get("ts"):
                submission.review_thread_ts = str(thread["ts"])
            opened = next_status(submission.status, Move.THREAD_OPENED)
            if opened is not None:
                session.add(AuditEntry(
                    submission_id=submission.id, actor="intake", channel=REVIEW_CHANNEL,
                    action="review.thread_opened", from_state=submission.status,
                    to_state=opened, detail=thread, created_at=self.clock()))
                submission.status = opened

    async def thread_step(self, reference: str, step: str) -> None:
        """Remember one finished step of posting the thread (retries skip it), under the
        row lock so two workers never overwrite each other's steps."""
        async with self.db.transaction() as session:
            submission = await self._locked(session, reference)
            if submission is None:
                return
            extra = dict(submission.extra or {})
            thread = dict(extra.get("review_thread") or {})
            done = list(thread.get("done") or [])
            if step not in done:
                thread["done"] = [*done, step]
                submission.extra = {**extra, "review_thread": thread}

    async def thread_of(self, reference: str) -> dict[str, Any] | None:
        async with self.db.transaction() as session:
            submission = await session.scalar(
                select(Submission).where(Submission.reference == reference))
            return (submission.extra or {}).get("review_thread") if submission else None

    async def submission_for_thread(self, ts: str) -> str | None:
        """The reference whose Slack review thread starts at ``ts`` (an indexed lookup:
        every reply in a review channel asks)."""
        async with self.db.transaction() as session:
            return await self.submission_for_thread_in(session, ts)

    @staticmethod
    async def submission_for_thread_in(session: Any, ts: str) -> str | None:
        """``submission_for_thread`` inside the caller's transaction."""
        return await session.scalar(select(Submission.reference).where(
            Submission.review_thread_ts == ts))

    async def context(self, reference: str) -> dict[str, Any] | None:
        """What a review thread shows: the submission, its current card and its report."""
        async with self.db.transaction() as session:
            submission = await session.scalar(
                select(Submission).where(Submission.reference == reference))
            if submission is None:
                return None
            card = (await session.get(CardVersion, submission.card_version_id)
                    if submission.card_version_id else None)
            return {
                "reference": reference, "name": submission.name,
                "location": submission.location, "hosting": submission.hosting,
                "modalities": list(submission.modalities), "domain": submission.domain,
                "domain_is_suggestion": submission.domain_is_suggestion,
                "email": submission.email, "contributor": submission.contributor_id,
                "channel": submission.channel, "status": submission.status,
                "card_url": submission.card_url,
                "card": {"id": card.id, "filename": card.filename, "content": card.content,
                         "report": card.report} if card else None,
                "decision_prefix": CONTRIBUTOR_PREFIX,
            }

    @staticmethod
    async def _decided_by(session: Any, submission: Submission) -> str | None:
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.submission_id == submission.id,
                                     AuditEntry.to_state == submission.status)
            .order_by(AuditEntry.id.desc()).limit(1))
        return (entry.detail or {}).get("reviewer") or entry.actor if entry else None


def _is_contributor(submission: Submission, reviewer: Reviewer) -> bool:
    """A contributor never reviews their own submission, on any channel."""
    if reviewer.channel == submission.channel and reviewer.id == submission.contributor_id:
        return True
    email = (reviewer.email or "").lower()
    return bool(email) and email in (submission.email.lower(),
                                     submission.contributor_id.lower())

