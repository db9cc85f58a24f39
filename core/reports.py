"""``intake submissions list`` and ``show REF``: what is stored, with its history."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.render import Renderer
from core.storage.database import Database
from core.storage.models import AuditEntry, CardVersion, OutboxMessage, Submission


def normalise_reference(text: str) -> str | None:
    """``OTDI-0042``, ``otdi-42`` or ``42`` -> ``OTDI-0042``."""
    match = re.fullmatch(r"\s*(?:otdi-?)?0*(\d{1,9})\s*", text, re.IGNORECASE)
    return f"OTDI-{int(match.group(1)):04d}" if match else None


async def print_list(db: Database, renderer: Renderer) -> int:
    async with db.transaction() as session:
        rows = (await session.scalars(select(Submission).order_by(Submission.id))).all()
        print(renderer.render("cli/submissions_list", {"submissions": rows}))
    return 0


async def submission_details(db: Database, reference: str) -> dict[str, Any] | None:
    """The submission, its card versions, audit history and messages, as plain data."""
    async with db.transaction() as session:
        submission = await session.scalar(
            select(Submission).where(Submission.reference == reference))
        if submission is None:
            return None
        cards = (await session.scalars(
            select(CardVersion).where(CardVersion.submission_id == submission.id)
            .order_by(CardVersion.id))).all()
        history = (await session.scalars(
            select(AuditEntry).where(AuditEntry.submission_id == submission.id)
            .order_by(AuditEntry.id))).all()
        messages = (await session.scalars(
            select(OutboxMessage).where(OutboxMessage.submission_id == submission.id)
            .order_by(OutboxMessage.id))).all()
        return {"submission": submission, "cards": cards, "history": history,
                "messages": messages}


async def print_show(db: Database, renderer: Renderer, reference: str) -> int:
    wanted = normalise_reference(reference)
    details = await submission_details(db, wanted) if wanted else None
    if details is None:
        print(renderer.render("cli/submission_not_found", {"reference": reference}))
        return 1
    print(renderer.render("cli/submission_show", details))
    return 0
