"""The one table of how a submission's status moves (core.status)."""

from __future__ import annotations

import pytest

from core.review import Decision
from core.status import FINAL, OPEN, TRANSITIONS, Move, Status, next_status


def test_every_status_is_reachable_from_submitted() -> None:
    seen, frontier = {Status.SUBMITTED}, [Status.SUBMITTED]
    while frontier:
        for target in TRANSITIONS[frontier.pop()].values():
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(Status)


def test_a_final_status_takes_no_move_and_open_ones_take_every_decision() -> None:
    assert {Status.APPROVED, Status.REJECTED, Status.WITHDRAWN} == FINAL
    assert set(Status) == OPEN | FINAL and not OPEN & FINAL
    for status in FINAL:
        assert all(next_status(status, move) is None for move in Move)
    for status in OPEN:
        for decision in Decision:  # the reviewers' four are moves of the table
            assert next_status(status, decision) is not None


@pytest.mark.parametrize(("status", "move", "after"), [
    ("submitted", "thread_opened", "in_review"),
    ("in_review", "thread_opened", None),  # a thread opens once
    ("in_review", "ask", "in_review"),  # a question changes nothing
    ("changes_requested", "contributor_wrote", "resubmitted"),
    ("in_review", "contributor_wrote", "in_review"),
    ("resubmitted", "approve", "approved"),
    ("changes_requested", "withdraw", "withdrawn"),
    ("approved", "withdraw", None),
])
def test_moves(status: str, move: str, after: str | None) -> None:
    assert next_status(status, move) == after
