"""A submission's status and the one table of how it moves (DESIGN.md section 5).

draft -> submitted -> in_review -> changes_requested -> resubmitted -> ... ->
approved | rejected | withdrawn. Every place that changes a status (a reviewer's
decision, the review thread opening, the contributor writing or withdrawing) asks
``next_status``; "open" and "final" are read off the table, not listed again.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Move(StrEnum):
    """What happens to a submission. The reviewers' four match ``core.review.Decision``."""

    APPROVE = "approve"
    CHANGES = "changes"
    REJECT = "reject"
    ASK = "ask"
    THREAD_OPENED = "thread_opened"
    CONTRIBUTOR_WROTE = "contributor_wrote"
    WITHDRAW = "withdraw"


def _open(status: Status, *, wrote: Status | None = None) -> dict[Move, Status]:
    return {Move.APPROVE: Status.APPROVED, Move.CHANGES: Status.CHANGES_REQUESTED,
            Move.REJECT: Status.REJECTED, Move.ASK: status, Move.WITHDRAW: Status.WITHDRAWN,
            Move.CONTRIBUTOR_WROTE: wrote or status}


TRANSITIONS: dict[Status, dict[Move, Status]] = {
    Status.SUBMITTED: {**_open(Status.SUBMITTED), Move.THREAD_OPENED: Status.IN_REVIEW},
    Status.IN_REVIEW: _open(Status.IN_REVIEW),
    Status.CHANGES_REQUESTED: _open(Status.CHANGES_REQUESTED, wrote=Status.RESUBMITTED),
    Status.RESUBMITTED: _open(Status.RESUBMITTED),
    Status.APPROVED: {},
    Status.REJECTED: {},
    Status.WITHDRAWN: {},
}
OPEN = frozenset(status for status, moves in TRANSITIONS.items() if moves)
FINAL = frozenset(status for status, moves in TRANSITIONS.items() if not moves)


def next_status(status: str, move: Move | str) -> Status | None:
    """Where ``move`` takes a submission in ``status``; None when it cannot happen there
    (a decided submission takes no more decisions, no thread opens twice)."""
    return TRANSITIONS.get(Status(status), {}).get(Move(move))
