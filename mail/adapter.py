"""The e-mail adapter as ``intake serve`` and ``intake mail`` start it.

It shares the process's event loop (``loop.create_server`` rather than aiosmtpd's
``Controller``, which runs its own thread and cannot bind port 0), registers the
outbox deliverer for channel ``mail`` (and for ``review`` when reviewers are reached by
e-mail, see ``mail.review``) and runs the inbox processor in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiosmtpd.smtp import SMTP

from core.runtime import Runtime
from core.service import REVIEW_CHANNEL
from mail import store
from mail.delivery import MailDeliverer
from mail.inbox import Inbox
from mail.options import MailOptions
from mail.review import ReviewMailDeliverer, review_by_mail
from mail.server import InboxHandler, Replies
from mail.threads import SubmitAddress

log = logging.getLogger(__name__)


class MailAdapter:
    """The SMTP inbox, its background processor and its outbound deliverer."""

    name = "mail"

    def __init__(self, options: MailOptions | None = None) -> None:
        self.options = options or MailOptions()
        self.inbox: Inbox | None = None
        self._server: asyncio.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def enabled(self, runtime: Runtime) -> bool:
        return bool(runtime.settings.submit_address)

    def register(self, runtime: Runtime) -> MailDeliverer:
        """Only the deliverers: what a worker process needs to send mail it did not receive.

        In e-mail review mode the review thread (outbox channel ``review``) is e-mail too.
        """
        deliverer = MailDeliverer(runtime.settings, runtime.db, runtime.renderer,
                                  runtime.service, self.options)
        runtime.deliverers["mail"] = deliverer
        if review_by_mail(runtime.settings):
            runtime.deliverers[REVIEW_CHANNEL] = ReviewMailDeliverer(
                runtime.settings, runtime.db, runtime.renderer, runtime.service, self.options)
        return deliverer

    async def start(self, runtime: Runtime) -> None:
        settings = runtime.settings
        deliverer = self.register(runtime)
        address = SubmitAddress.parse(settings.submit_address)
        inbox = Inbox(runtime, self.options)
        deliverer.inbox = inbox

        async def save(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
            return await store.save_inbound(runtime.db, raw, mail_from, rcpt_tos)

        replies = Replies.render(runtime.renderer, address.address)
        handler = InboxHandler(address, save, inbox.accepted, replies, self.options.max_recipients)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname=address.domain or "localhost",
                         ident="OTDI intake", enable_SMTPUTF8=True,
                         data_size_limit=settings.max_message_bytes),
            host=settings.smtp_host, port=settings.smtp_port)
        self.inbox = inbox
        self._task = asyncio.create_task(inbox.run(), name="mail-inbox")
        log.info("SMTP inbox on %s:%s for %s", settings.smtp_host, self.port, address.address)

    @property
    def port(self) -> int:
        """The port actually bound (useful with ``INTAKE_SMTP_PORT=0``)."""
        assert self._server is not None and self._server.sockets
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5)
            self._server = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.inbox is not None:
            await self.inbox.stop()
