"""Which conversation a message belongs to: plus-address tokens and Message-ID threads.

Every reply we send carries ``Reply-To: data+TOKEN@...`` (an unguessable token bound to
the conversation, the same before and after its submission; a submission's own token, used
by earlier versions, is still matched) and a Message-ID we keep, so an answer is matched
by its recipient or by ``In-Reply-To``/``References``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import repository
from mail.models import MailThread, OutboundMail

CHANNEL = "mail"
# The review thread of OTDI-0042 is the "conversation" ``review:OTDI-0042``: its token
# (``r`` + hex, so it never looks like a contributor's hex token) lives in mail_threads
# and the e-mails of the thread in mail_outbound under that recipient.
REVIEW_PREFIX = "review:"


@dataclass(frozen=True)
class SubmitAddress:
    """The submission address (``data@example.org``) and its plus-tagged forms."""

    local: str
    domain: str

    @classmethod
    def parse(cls, address: str) -> SubmitAddress:
        local, _, domain = address.strip().strip("<>").rpartition("@")
        return cls(local.lower(), domain.lower())

    @property
    def address(self) -> str:
        return f"{self.local}@{self.domain}"

    def with_tag(self, tag: str | None) -> str:
        return f"{self.local}+{tag}@{self.domain}" if tag else self.address

    def tag_of(self, address: str) -> str | None:
        """``data+abc@d`` -> ``abc``; ``data@d`` -> ``""``; someone else -> None."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain:
            return None
        base, plus, tag = local.lower().partition("+")
        if base != self.local:
            return None
        return tag if plus else ""

    def accepts(self, address: str) -> bool:
        return self.tag_of(address) is not None


def new_token() -> str:
    """128 random bits in lower-case hex: survives MTAs that lower-case local parts."""
    return secrets.token_hex(16)


def new_review_token() -> str:
    """A review thread's token; the ``r`` tells it from a contributor's at a glance."""
    return "r" + new_token()


def is_review_tag(tag: str) -> bool:
    """A plus-tag naming a review thread, not a contributor's conversation."""
    return tag.lower().startswith("r")


def review_key(reference: str) -> str:
    """The thread key of a submission's review thread (never an e-mail address)."""
    return f"{REVIEW_PREFIX}{reference}"


def new_message_id(domain: str) -> str:
    return f"<otdi.{secrets.token_hex(12)}@{domain}>"


@dataclass(frozen=True)
class ThreadMatch:
    """The conversation (and submission, if any) a message answers."""

    contributor_id: str
    submission_id: int | None = None
    reference: str | None = None
    by: str = "token"


async def match_thread(session: AsyncSession, tags: list[str],
                       message_ids: list[str]) -> ThreadMatch | None:
    """By reply token first (it names the thread exactly), then by the Message-IDs quoted."""
    for tag in dict.fromkeys(t.lower() for t in tags if t and not is_review_tag(t)):
        contributor = await session.scalar(select(MailThread.contributor_id).where(
            MailThread.token == tag))
        if contributor:  # one token per conversation: its submission, if any, from the state
            state = await repository.mail_conversation_state(session, contributor)
            submission_id = state.get("submission_id")
            return ThreadMatch(contributor, submission_id,
                               state.get("reference") if submission_id else None, by="token")
        submission = await repository.mail_submission_by_token(session, tag)
        if submission:
            submission_id, reference, contributor_id = submission
            return ThreadMatch(contributor_id, submission_id, reference, by="token")
    ids = [m for m in dict.fromkeys(message_ids) if len(m) <= 255][:40]
    if ids:
        row = (await session.execute(
            select(OutboundMail.contributor_id, OutboundMail.submission_id)
            .where(OutboundMail.message_id.in_(ids), OutboundMail.contributor_id.is_not(None))
            .order_by(OutboundMail.id.desc()).limit(1))).first()
        if row:
            reference = None
            if row.submission_id is not None:
                reference = await repository.mail_submission_reference(session,
                                                                       row.submission_id)
            return ThreadMatch(row.contributor_id, row.submission_id, reference, by="thread")
    return None
