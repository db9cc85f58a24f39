"""Confirmation tokens: an action held until the owner of the stored address says yes.

The token goes out only to the address on record (the conversation's, or a listed
reviewer's), in the reply address of the request; this table keeps only its SHA-256
(the queued request carries the token until it is sent). A token is single-use and
expires (``INTAKE_CONFIRM_WITHIN``, 24 hours by default).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.storage.models import Confirmation

PREFIX = "v"  # a plus-tag ``v<hex>``: never a hex contributor token nor an ``r`` review one


def _hash(token: str) -> str:
    return hashlib.sha256(token.strip().lower().encode()).hexdigest()


def is_confirmation_tag(tag: str) -> bool:
    return tag.lower().startswith(PREFIX) and len(tag) > len(PREFIX)


@dataclass(frozen=True)
class Held:
    """A confirmation that was just redeemed: what to carry out, for whom."""

    channel: str
    contributor_id: str
    purpose: str
    action: str
    reference: str | None
    event_id: int | None


async def hold_in(session: AsyncSession, *, channel: str, contributor_id: str, purpose: str,
                  action: str, reference: str | None, event_id: int | None, now: datetime,
                  valid_for: timedelta) -> str:
    """Keep the request; the returned tag (``v`` + 128 random bits) goes to the mailbox."""
    token = PREFIX + secrets.token_hex(16)
    session.add(Confirmation(token_hash=_hash(token), channel=channel,
                             contributor_id=contributor_id[:320], purpose=purpose,
                             action=action, reference=reference, event_id=event_id,
                             created_at=now, expires_at=now + valid_for))
    await session.flush()
    return token


async def redeem_in(session: AsyncSession, token: str, now: datetime) -> Held | str:
    """The held request, marked used; or why not (``unknown``, ``used``, ``expired``).

    The conditional update makes a token work once even when two replies race.
    """
    row = (await session.execute(select(Confirmation).where(
        Confirmation.token_hash == _hash(token)))).scalar_one_or_none()
    if row is None:
        return "unknown"
    if row.used_at is not None:
        return "used"
    expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(
        tzinfo=now.tzinfo)
    if expires <= now:
        return "expired"
    taken = await session.execute(update(Confirmation).where(
        Confirmation.id == row.id, Confirmation.used_at.is_(None)).values(used_at=now))
    if taken.rowcount != 1:
        return "used"
    return Held(row.channel, row.contributor_id, row.purpose, row.action, row.reference,
                row.event_id)


async def owner_of(session: AsyncSession, token: str) -> str | None:
    """Whose mailbox a confirmation tag was sent to, used or not (to thread a reply)."""
    return await session.scalar(select(Confirmation.contributor_id).where(
        Confirmation.token_hash == _hash(token)))
