"""The SMTP handler: accept mail for the submission address, store it, then say 250.

Policy lives here, protocol in aiosmtpd. Storing comes before the 250, so a message we
acknowledged survives a crash the next instant; if storing fails the client hears 451
and keeps the message to try again. No traceback ever reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from core.render import Renderer
from mail.threads import SubmitAddress

log = logging.getLogger(__name__)

Save = Callable[[bytes, str, list[str]], Awaitable[int]]


@dataclass(frozen=True)
class Replies:
    """The SMTP replies we refuse with: codes here, words from ``templates/mail/smtp_*``."""

    no_such_mailbox: str
    too_many_recipients: str
    try_later: str

    @classmethod
    def render(cls, renderer: Renderer, submit_address: str) -> Replies:
        def text(name: str) -> str:
            return " ".join(renderer.render(name, {"submit_address": submit_address},
                                            "mail").split())

        return cls(no_such_mailbox=f"550 5.1.1 {text('smtp_no_such_mailbox')}",
                   too_many_recipients=f"452 4.5.3 {text('smtp_too_many_recipients')}",
                   try_later=f"451 4.3.0 {text('smtp_try_later')}")


class InboxHandler:
    """aiosmtpd hooks: who may be written to, and where an accepted message goes."""

    def __init__(self, address: SubmitAddress, save: Save, on_saved: Callable[[int, str], None],
                 replies: Replies, max_recipients: int = 20) -> None:
        self.address = address
        self.replies = replies
        self.save = save
        self.on_saved = on_saved
        self.max_recipients = max_recipients

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,  # noqa: N802
                          address: str, rcpt_options: list[str]) -> str:
        if not self.address.accepts(address):
            return self.replies.no_such_mailbox
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return self.replies.too_many_recipients
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        content = envelope.original_content or b""
        try:
            row_id = await self.save(bytes(content), envelope.mail_from or "",
                                     list(envelope.rcpt_tos))
        except Exception:  # noqa: BLE001 - the client keeps the message and retries
            log.exception("could not store a message from %r", envelope.mail_from)
            return self.replies.try_later
        self.on_saved(row_id, envelope.mail_from or "")
        return f"250 2.0.0 OK: queued as {row_id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return self.replies.try_later
