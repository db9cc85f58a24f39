"""The outbox's deliverer for channel ``mail``: compose the reply and hand it to the relay.

A refused recipient is permanent (the outbox marks it dead); a relay that is down or
answers 4xx is retried by the outbox with backoff. Each outbox message keeps one
Message-ID across retries (it is in the row), so a reply sent twice after a crash
threads as the same mail, and a receiving MUA shows it once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosmtplib
from jinja2 import TemplateError

from core import repository
from core.outbox import OutboundRecord, PermanentFailure
from core.render import Renderer
from core.service import IntakeService
from core.settings import Settings
from core.storage.database import Database
from mail import store
from mail.compose import Letter, build_message, missing_fields, render_letter
from mail.options import MailOptions
from mail.threads import SubmitAddress

log = logging.getLogger(__name__)
# An outbox payload of this kind is a notification in no conversation (``_standalone``).
STANDALONE = "mail.standalone"


class RelayDeliverer:
    """What every e-mail deliverer needs: the settings, the database, the templates, the
    service, the adapter's options, a clock and the submission address."""

    def __init__(self, settings: Settings, db: Database, renderer: Renderer,
                 service: IntakeService, options: MailOptions,
                 clock: Callable[[], datetime] = repository.mail_now) -> None:
        self.settings = settings
        self.db = db
        self.renderer = renderer
        self.service = service
        self.options = options
        self.clock = clock
        self.address = SubmitAddress.parse(settings.submit_address)


class MailDeliverer(RelayDeliverer):
    """Turns outbox records of channel ``mail`` into e-mails sent through the relay.

    A reply carries everything in ``payload["mail"]`` (written in its turn's
    transaction): composing it reads nothing. Only a message of our own (a reviewer's
    decision, queued by the core) is given its Message-ID and thread here, in one
    transaction on its first attempt.
    """

    async def __call__(self, record: OutboundRecord) -> None:
        if record.payload.get("kind") == STANDALONE:
            await self._send(self._standalone(record), record.recipient)
            return
        delivery = dict(record.payload.get("mail") or {})
        if "message_id" not in delivery:
            delivery = await self._plan(record)
        elif "phase" not in delivery:  # a card fetched by URL joined it: read the state now
            async with self.db.transaction() as session:
                state = await repository.mail_conversation_state(session, record.recipient)
            delivery.update(phase=state.get("phase"), missing=missing_fields(state))
        try:
            message = build_message(self._letter(record, delivery),
                                    from_name=self.renderer.render("from_name", {}, "mail"),
                                    from_address=self.address.address, when=self.clock())
        except (ValueError, TypeError) as error:  # e.g. an address no header can carry
            raise PermanentFailure(f"cannot write this e-mail: {error!r}") from error
        await self._send(message, record.recipient)

    async def _plan(self, record: OutboundRecord) -> dict[str, Any]:
        """A message of our own: thread it under our last e-mail to the same person."""
        async with self.db.transaction() as session:
            outbound = await store.outbound_for(session, record.id)
            earlier = await store.previous(session, record.recipient)
            if outbound is not None and earlier is not None and earlier.id == outbound.id:
                earlier = None  # our own row, from an earlier attempt
            if outbound is None:
                message_id = store.message_id_for(self.address.domain)
                await store.record_outbound(
                    session, outbox_id=record.id, recipient=record.recipient,
                    contributor_id=record.recipient, submission_id=record.submission_id,
                    message_id=message_id, subject=earlier.subject if earlier else None,
                    context={"spontaneous": True})
            else:
                message_id = outbound.message_id
            state = await repository.mail_conversation_state(session, record.recipient)
            token = await store.token(session, record.recipient,
                                      record.payload.get("reference"))
        in_reply_to = earlier.message_id if earlier is not None else None
        return {"message_id": message_id, "in_reply_to": in_reply_to,
                "references": [in_reply_to] if in_reply_to else [],
                "subject": (earlier.subject if earlier else None) or "", "token": token,
                "phase": state.get("phase"), "missing": missing_fields(state) if state else []}

    def _standalone(self, record: OutboundRecord) -> object:
        """A notification of its own, in no conversation (e.g. the review desk's sign-in
        link): ``template`` and ``<template>_subject`` from ``templates/mail/`` with
        ``context``; ``message_id`` was chosen when it was queued (one across retries)."""
        payload = record.payload
        template, context = str(payload["template"]), dict(payload.get("context") or {})
        try:
            subject = self.renderer.render(f"{template}_subject", context, "mail")
            body = self.renderer.render(template, context, "mail")
            return build_message(
                Letter(recipient=record.recipient, subject=" ".join(subject.split()),
                       body=body + "\n", reply_to=self.address.address,
                       message_id=str(payload["message_id"]), auto_submitted="auto-generated"),
                from_name=self.renderer.render("from_name", {}, "mail"),
                from_address=self.address.address, when=self.clock())
        except (KeyError, ValueError, TypeError, TemplateError) as error:
            raise PermanentFailure(f"cannot write this e-mail: {error!r}") from error

    def _letter(self, record: OutboundRecord, delivery: dict[str, Any]) -> Letter:
        reply_to = self.address.with_tag(delivery.get("token"))
        subject, body = render_letter(self.renderer, record.payload,
                                      phase=delivery.get("phase"),
                                      missing=list(delivery.get("missing") or []),
                                      subject=str(delivery.get("subject") or ""),
                                      reply_to=reply_to, submit_address=self.address.address)
        return Letter(recipient=record.recipient, subject=subject, body=body,
                      reply_to=reply_to, message_id=str(delivery["message_id"]),
                      in_reply_to=delivery.get("in_reply_to"),
                      references=[str(m) for m in delivery.get("references") or []])

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
