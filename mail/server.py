"""The SMTP handler: accept mail for the submission address, log it, then say 250.

Policy lives here, protocol in aiosmtpd. The message goes into the core's inbound log
(``runtime.inbound``) before the 250, so a message we acknowledged survives a crash the
next instant; if logging fails the client hears 451 and keeps the message to try
again. A message logged before (same Message-ID) is acknowledged and not processed
again. No traceback ever reaches the client. Past ``INTAKE_SMTP_MAX_SESSIONS`` open
sessions a new one is greeted with 421, so a burst of large messages cannot take all
the memory.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from core.inbound import KEY_LENGTH, InboundLog, NewEvent
from core.render import Renderer
from mail.parsing import from_mailbox, message_id_of, message_key, quick_headers
from mail.store import sender_key
from mail.threads import CHANNEL, SubmitAddress

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Replies:
    """The SMTP replies we refuse with: codes here, words from ``templates/mail/smtp_*``."""

    no_such_mailbox: str
    too_many_recipients: str
    try_later: str
    busy: str
    bad_sender: str

    @classmethod
    def render(cls, renderer: Renderer, submit_address: str) -> Replies:
        def text(name: str) -> str:
            return " ".join(renderer.render(name, {"submit_address": submit_address},
                                            "mail").split())

        return cls(no_such_mailbox=f"550 5.1.1 {text('smtp_no_such_mailbox')}",
                   too_many_recipients=f"452 4.5.3 {text('smtp_too_many_recipients')}",
                   try_later=f"451 4.3.0 {text('smtp_try_later')}",
                   busy=f"421 4.3.2 {text('smtp_busy')}",
                   bad_sender=f"550 5.1.7 {text('smtp_bad_sender')}")


def logged_mail(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> NewEvent:
    """An accepted message as an inbound-log entry; ``raw`` is kept as is, not copied.

    The idempotency key is its Message-ID (one made from the content when missing), so
    a re-delivery is a duplicate; messages of one envelope sender keep their order, a
    null sender's (bounces) need none.
    """
    message_id = message_id_of(quick_headers(raw).get("message-id", ""), raw)
    key = message_id if len(message_id) <= KEY_LENGTH else f"sha256:{message_key(message_id)}"
    order = sender_key(mail_from) or f"<>{uuid.uuid4().hex}"
    return NewEvent(CHANNEL, key, order, {"mail_from": mail_from[:998],
                                          "rcpt_tos": [r[:998] for r in rcpt_tos]}, raw)


class InboxHandler:
    """aiosmtpd hooks: who may be written to, and where an accepted message goes."""

    def __init__(self, address: SubmitAddress, inbound: InboundLog, replies: Replies,
                 max_recipients: int = 20) -> None:
        self.address = address
        self.replies = replies
        self.inbound = inbound
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
        # With decode_data=False, ``content`` and ``original_content`` are one object.
        raw = envelope.original_content or b""
        if not from_mailbox(quick_headers(raw).get("from", ""))[1]:
            envelope.content = envelope.original_content = None
            log.warning("refused a message from %r: its From header is unsafe",
                        envelope.mail_from)
            return self.replies.bad_sender  # nothing stored: no reply could go anywhere safe
        try:
            event = logged_mail(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
            appended = await self.inbound.append(event)
        except Exception:  # noqa: BLE001 - the client keeps the message and retries
            log.exception("could not log a message from %r", envelope.mail_from)
            return self.replies.try_later
        finally:
            envelope.content = envelope.original_content = None  # no second reference
        return f"250 2.0.0 OK: queued as {appended.id}"

    async def handle_exception(self, error: Exception) -> str:
        log.error("SMTP session error: %r", error)
        return self.replies.try_later


class SessionLimit:
    """How many SMTP sessions are open, shared by every session of one server."""

    def __init__(self, most: int) -> None:
        self.most = max(1, most)
        self.open = 0


class LimitedSMTP(SMTP):
    """aiosmtpd's SMTP that greets with 421 and hangs up past the session limit."""

    def __init__(self, handler: Any, *, limit: SessionLimit, busy: str, **options: Any) -> None:
        super().__init__(handler, **options)
        self._limit = limit
        self._busy = busy
        self._counted = False
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.transport is None and not self._counted:  # not a STARTTLS upgrade
            if self._limit.open >= self._limit.most:
                self._refused = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(f"{self._busy}\r\n".encode())
                transport.close()
                return
            self._limit.open += 1
            self._counted = True
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._refused:
            return
        if self._counted:
            self._limit.open -= 1
            self._counted = False
        super().connection_lost(error)
