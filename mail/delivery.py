"""The outbox's deliverer for channel ``mail``: compose the reply and hand it to the relay.

A refused recipient is permanent (the outbox marks it dead); a relay that is down or
answers 4xx is retried by the outbox with backoff. Each outbox message keeps one
Message-ID across retries, so a reply sent twice after a crash threads as the same mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiosmtplib

from core.outbox import OutboundRecord, PermanentFailure, RetryLater
from core.render import Renderer
from core.service import IntakeService
from core.settings import Settings
from core.storage.database import Database
from core.storage.models import utcnow
from mail import store
from mail.compose import Letter, build_message, merge_payloads, missing_fields, render_letter
from mail.models import OutboundMail
from mail.options import MailOptions
from mail.threads import SubmitAddress

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=1)
HOLD_ATTEMPTS = 4  # a reply waits this many tries for the message it answers to be done
HOLD_SECONDS = 3.0


class Processing(Protocol):
    """The in-process inbox, when there is one: lets a reply wait for its turn to finish."""

    async def wait_processed(self, inbound_id: int, timeout: float) -> bool: ...


class RelayDeliverer:
    """What every e-mail deliverer needs: the settings, the database, the templates, the
    service, the adapter's options, a clock and the submission address."""

    def __init__(self, settings: Settings, db: Database, renderer: Renderer,
                 service: IntakeService, options: MailOptions,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.db = db
        self.renderer = renderer
        self.service = service
        self.options = options
        self.clock = clock
        self.address = SubmitAddress.parse(settings.submit_address)


class MailDeliverer(RelayDeliverer):
    """Turns outbox records of channel ``mail`` into e-mails sent through the relay."""

    inbox: Processing | None = None

    async def __call__(self, record: OutboundRecord) -> None:
        plan = await self._plan(record)
        outbound = plan.outbound
        assert outbound is not None
        if outbound.status in ("sent", "bounced", "suppressed", "merged"):
            return  # sent before a crash kept the outbox from hearing of it
        spontaneous = bool((outbound.context or {}).get("spontaneous"))
        if not spontaneous and plan.sent_last_hour >= self.options.replies_per_hour:
            await self._suppress(record, outbound)
            return
        try:
            message = build_message(self._letter(record, plan),
                                    from_name=self.renderer.render("from_name", {}, "mail"),
                                    from_address=self.address.address, when=self.clock())
        except (ValueError, TypeError) as error:  # e.g. an address no header can carry
            raise PermanentFailure(f"cannot write this e-mail: {error!r}") from error
        await self._send(message, record.recipient)
        await store.delivered(self.db, outbound.id, [i for i, _p in plan.siblings], self.clock())

    async def _plan(self, record: OutboundRecord) -> store.DeliveryPlan:
        """Read what the reply needs; first let the message it answers finish its turn.

        The service wakes the outbox as soon as a turn commits, a moment before the inbox
        links the reply to the message (and, for a card fetched by URL, before the second
        turn): waiting for that moment makes one threaded e-mail of it all.
        """
        def plan(create: bool, answers: int | None = None) -> Any:
            return store.plan_delivery(
                self.db, outbox_id=record.id, recipient=record.recipient,
                submission_id=record.submission_id, reference=record.payload.get("reference"),
                domain=self.address.domain, since=self.clock() - WINDOW, create=create,
                answers=answers)

        found = await plan(create=False)
        if found.outbound is not None:
            return found
        processing = found.processing_inbound
        if processing is None:  # not an answer to mail: a reviewer's decision, say
            return await plan(create=True)
        if record.attempts <= HOLD_ATTEMPTS:
            if self.inbox is None or not await self.inbox.wait_processed(processing,
                                                                         HOLD_SECONDS):
                raise RetryLater(HOLD_SECONDS, "the message it answers is still processing")
            found = await plan(create=False)
            if found.outbound is not None:
                return found
        return await plan(create=True, answers=processing)

    def _letter(self, record: OutboundRecord, plan: store.DeliveryPlan) -> Letter:
        outbound = plan.outbound
        assert outbound is not None
        payload = merge_payloads([record.payload, *(p for _id, p in plan.siblings)])
        context = outbound.context or {}
        if "missing" in context:
            phase, missing = context.get("phase"), list(context["missing"])
        else:
            phase, missing = plan.state.get("phase"), missing_fields(plan.state) \
                if plan.state else []
        reply_to = self.address.with_tag(plan.token)
        subject, body = render_letter(self.renderer, payload, phase=phase, missing=missing,
                                      subject=plan.subject, reply_to=reply_to,
                                      submit_address=self.address.address)
        return Letter(recipient=record.recipient, subject=subject, body=body,
                      reply_to=reply_to, message_id=outbound.message_id,
                      in_reply_to=plan.in_reply_to, references=plan.references)

    async def _suppress(self, record: OutboundRecord, outbound: OutboundMail) -> None:
        """Over the hourly limit: the conversation keeps its state, this reply is not sent."""
        await store.mark_outbound(self.db, outbound.id, "suppressed")
        await self.service.record(actor="intake", channel="mail", action="mail.reply_suppressed",
                                  submission_id=record.submission_id,
                                  detail={"recipient": record.recipient, "outbox_id": record.id,
                                          "limit_per_hour": self.options.replies_per_hour})

    async def _send(self, message: object, recipient: str) -> None:
        await relay(self.settings, self.options, self.address, message, [recipient])


async def relay(settings: Settings, options: MailOptions, address: SubmitAddress,
                message: object, recipients: list[str]) -> dict[str, str]:
    """Hand one message to the relay; returns the recipients it refused while taking others.

    Every recipient refused, or the message itself, is permanent; 4xx and a relay that is
    down are for the outbox to retry.
    """
    try:
        refused, _response = await aiosmtplib.send(
            message, sender=address.address, recipients=recipients,
            hostname=settings.relay_host, port=settings.relay_port,
            username=settings.relay_username, password=settings.relay_password,
            start_tls=bool(settings.relay_starttls),
            timeout=options.relay_timeout, local_hostname=address.domain)
    except aiosmtplib.SMTPRecipientsRefused as error:
        raise PermanentFailure(f"relay refused {', '.join(recipients)}: {error}") from error
    except aiosmtplib.SMTPNotSupported as error:
        raise PermanentFailure(f"relay cannot take this message: {error}") from error
    except aiosmtplib.SMTPResponseException as error:
        if 500 <= error.code < 600:
            raise PermanentFailure(f"relay refused the message: {error}") from error
        raise
    return {str(rcpt): str(reply) for rcpt, reply in refused.items()}
