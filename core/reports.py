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


# -- the queues: inbound events set aside, outbox messages given up on --------------------

async def print_events(db: Database, renderer: Renderer, status: str | None) -> int:
    """``intake events list [--poisoned]``: the inbound log, newest state of each event."""
    from core.inbound import InboundLog

    lines = await InboundLog(db).lines(status=status, limit=500)
    print(renderer.render("cli/events_list", {"events": lines, "status": status}))
    return 0


async def retry_events(db: Database, renderer: Renderer, ids: list[int] | None) -> int:
    """``intake events retry ID... | --all-poisoned``: back in line, a fresh attempt count."""
    from core.inbound import InboundLog

    count = await InboundLog(db).retry(ids)
    print(renderer.render("cli/retried", {"count": count, "what": "events"}))
    return 0 if count or ids is None else 1


async def print_outbox(db: Database, renderer: Renderer, status: str | None) -> int:
    """``intake outbox list [--dead]``: messages waiting, sent, or given up on."""
    from core.outbox import list_messages

    messages = await list_messages(db, status=status, limit=500)
    print(renderer.render("cli/outbox_list", {"messages": messages, "status": status}))
    return 0


async def retry_outbox(db: Database, renderer: Renderer, ids: list[int] | None) -> int:
    """``intake outbox retry ID... | --all-dead``: delivered again from now on."""
    from core.outbox import retry_dead

    count = await retry_dead(db, ids)
    print(renderer.render("cli/retried", {"count": count, "what": "messages"}))
    return 0 if count or ids is None else 1
