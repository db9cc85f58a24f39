"""The e-mail adapter as ``intake serve``, ``intake mail`` and ``intake worker`` start it.

``register`` gives the runtime what a worker needs: the inbound handler for channel
``mail`` (``runtime.handlers``) and the outbox deliverers (``mail``, and ``review`` when
reviewers are reached by e-mail, see ``mail.review``). ``start`` adds the SMTP server,
which shares the process's event loop (``loop.create_server`` rather than aiosmtpd's
``Controller``, which runs its own thread and cannot bind port 0) and logs what it
accepts to ``runtime.inbound``; the runtime's one event worker processes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from core.runtime import Runtime
from core.service import REVIEW_CHANNEL
from mail.delivery import MailDeliverer
from mail.handler import MailHandler
from mail.options import MailOptions
from mail.review import ReviewMailDeliverer, review_by_mail
from mail.server import InboxHandler, LimitedSMTP, Replies, SessionLimit
from mail.threads import CHANNEL, SubmitAddress

log = logging.getLogger(__name__)


class MailAdapter:
    """The SMTP inbox, its inbound handler and its outbound deliverers."""

    name = "mail"
    options_model = MailOptions  # its own settings, listed by `intake settings`

    def __init__(self, options: MailOptions | None = None) -> None:
        self.options = options or MailOptions()
        self.handler: MailHandler | None = None
        self.sessions: SessionLimit | None = None
        self._server: asyncio.Server | None = None

    def enabled(self, runtime: Runtime) -> bool:
        return bool(runtime.settings.submit_address)

    def register(self, runtime: Runtime) -> MailDeliverer:
        """The handler and deliverers: what a worker process needs for e-mail."""
        deliverer = MailDeliverer(runtime.settings, runtime.db, runtime.renderer,
                                  runtime.service, self.options)
        runtime.deliverers[CHANNEL] = deliverer
        if review_by_mail(runtime.settings):
            runtime.deliverers[REVIEW_CHANNEL] = ReviewMailDeliverer(
                runtime.settings, runtime.db, runtime.renderer, runtime.service, self.options)
        # Replies leave right after their turn commits: the event worker claims them in
        # the turn and hands them to the process's one outbox worker.
        self.handler = MailHandler(runtime.settings, runtime.service, runtime.renderer,
                                   self.options, desk=runtime.desk)
        runtime.handlers[CHANNEL] = self.handler
        return deliverer

    async def start(self, runtime: Runtime) -> None:
        settings = runtime.settings
        self.register(runtime)
        address = SubmitAddress.parse(settings.submit_address)
        replies = Replies.render(runtime.renderer, address.address)
        handler = InboxHandler(address, runtime.inbound, replies, self.options.max_recipients)
        sessions = self.sessions = SessionLimit(self.options.max_sessions)
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: LimitedSMTP(handler, limit=sessions, busy=replies.busy,
                                hostname=address.domain or "localhost", ident="OTDI intake",
                                enable_SMTPUTF8=True,
                                data_size_limit=settings.max_message_bytes),
            host=settings.smtp_host, port=settings.smtp_port)
        log.debug("SMTP inbox on %s:%s for %s", settings.smtp_host, self.port, address.address)

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
