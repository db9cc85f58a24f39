"""``intake submissions list`` and ``show REF``: what is stored, with its history."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import or_, select

from core.conversation import ConversationState
from core.render import Renderer
from core.storage.database import Database
from core.storage.models import (
    AuditEntry,
    CardVersion,
    Conversation,
    OutboxMessage,
    Submission,
)


def normalise_reference(text: str) -> str | None:
    """``OTDI-0042``, ``otdi-42`` or ``42`` -> ``OTDI-0042``."""
    match = re.fullmatch(r"\s*(?:otdi-?)?0*(\d{1,9})\s*", text, re.IGNORECASE)
    return f"OTDI-{int(match.group(1)):04d}" if match else None


async def print_list(db: Database, renderer: Renderer, status: str | None = None) -> int:
    """``intake submissions list [--status S]``; an unknown status lists the known ones."""
    from core.review import Status

    known = [str(s) for s in Status]
    if status is not None and status not in known:
        print(renderer.render("cli/status_unknown", {"status": status, "known": known}))
        return 2
    query = select(Submission).order_by(Submission.id)
    if status is not None:
        query = query.where(Submission.status == status)
    async with db.transaction() as session:
        rows = (await session.scalars(query)).all()
        print(renderer.render("cli/submissions_list", {"submissions": rows, "status": status}))
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
        # The draft's replies carry its reference (from the first message on), not yet
        # the submission's id: they are part of its story too.
        draft = ((OutboxMessage.channel == submission.channel)
                 & (OutboxMessage.recipient == submission.contributor_id)
                 & (OutboxMessage.payload["reference"].as_string() == submission.reference))
        messages = (await session.scalars(
            select(OutboxMessage).where(or_(OutboxMessage.submission_id == submission.id,
                                            draft))
            .order_by(OutboxMessage.id))).all()
        return {"submission": submission, "cards": cards, "history": history,
                "messages": messages}


async def draft_details(db: Database, reference: str) -> dict[str, Any] | None:
    """A draft that has its reference (from its first reply) but is not submitted."""
    async with db.transaction() as session:
        conversation = await session.scalar(select(Conversation).where(
            Conversation.state["reference"].as_string() == reference,
            Conversation.state["submission_id"].as_string().is_(None)))
        if conversation is None:
            return None
        messages = (await session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == conversation.channel,
            OutboxMessage.recipient == conversation.contributor_id,
            OutboxMessage.payload["reference"].as_string() == reference)
            .order_by(OutboxMessage.id))).all()
        history = (await session.scalars(select(AuditEntry).where(
            AuditEntry.conversation_id == conversation.id,
            AuditEntry.submission_id.is_(None)).order_by(AuditEntry.id))).all()
        state = ConversationState.model_validate(conversation.state or {})
        return {"reference": reference, "conversation": conversation,
                "phase": str(state.phase), "answered": state.answers.given(),
                "history": history, "messages": messages}


async def print_show(db: Database, renderer: Renderer, reference: str) -> int:
    wanted = normalise_reference(reference)
    details = await submission_details(db, wanted) if wanted else None
    if details is None:
        draft = await draft_details(db, wanted) if wanted else None
        if draft is not None:  # named from its first reply on: say what it is
            print(renderer.render("cli/draft_show", draft))
            return 0
        print(renderer.render("cli/submission_not_found", {"reference": reference}))
        return 1
    print(renderer.render("cli/submission_show", details))
    return 0


# Columns never exported: the reply token lets whoever holds it answer as the contributor.
UNEXPORTED = {"reply_token", "content"}


def _row(row: Any) -> dict[str, Any]:
    """A stored row as plain data (every column but the unexported ones)."""
    return {attr.key: getattr(row, attr.key) for attr in sa_inspect(row).mapper.column_attrs
            if attr.key not in UNEXPORTED}


def _card_name(number: int, filename: str) -> str:
    """``v1-README.md``: the version, then the contributor's file name made safe."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename or "card").name).strip("._")
    return f"v{number}-{base or 'card'}"


async def export(db: Database, renderer: Renderer, reference: str,
                 directory: str | None) -> int:
    """``intake submissions export REF [--to DIR]``: a new directory holding
    ``record.json`` (the submission's fields and status, its card versions with their
    reports, the audit history and the messages) and ``cards/`` (each version's bytes as
    received). Nothing is overwritten: a directory that exists and is not empty is refused.
    """
    wanted = normalise_reference(reference)
    details = await submission_details(db, wanted) if wanted else None
    if details is None:
        print(renderer.render("cli/submission_not_found", {"reference": reference}))
        return 1
    submission = details["submission"]
    target = Path(directory or str(submission.reference))
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        print(renderer.render("cli/export_exists", {"path": target}))
        return 1
    (target / "cards").mkdir(parents=True, exist_ok=True)
    cards = []
    for number, card in enumerate(details["cards"], start=1):
        name = _card_name(number, card.filename)
        (target / "cards" / name).write_bytes(card.content)
        cards.append({"version": number, "file": f"cards/{name}",
                      "current": card.id == submission.card_version_id, **_row(card)})
    record = {"reference": submission.reference, "status": submission.status,
              "exported_at": datetime.now(UTC), "submission": _row(submission),
              "cards": cards, "history": [_row(entry) for entry in details["history"]],
              "messages": [_row(message) for message in details["messages"]]}
    (target / "record.json").write_text(
        json.dumps(record, indent=2, default=_plain, ensure_ascii=False) + "\n",
        encoding="utf-8")
    print(renderer.render("cli/exported", {"reference": submission.reference, "path": target,
                                           "cards": len(cards)}))
    return 0


def _plain(value: Any) -> Any:
    """JSON for what ``json`` does not know: times as ISO 8601, anything else as text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


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
