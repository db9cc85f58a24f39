"""What each accepted message means: a turn of a conversation, a bounce, a robot, a stranger.

Messages are taken from ``mail_inbound`` (where the SMTP handler stored them) in the
order they arrived; one sender's messages are processed one at a time, different
senders' side by side. A failure is recorded on the row and retried after a restart;
the conversation itself changes only inside ``IntakeService.handle``'s transaction, so a
failure never leaves half a submission.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

from core.conversation import Inbound
from core.outbox import enqueue
from core.runtime import Runtime
from core.service import ConversationKey
from mail import store
from mail.compose import missing_fields
from mail.models import OutboundMail
from mail.options import MailOptions
from mail.parsing import ParsedMail, parse_message
from mail.review import ReviewAnswers
from mail.robots import Bounce, delivery_report, robot_reason
from mail.threads import CHANNEL, SubmitAddress, ThreadMatch, new_message_id

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Verdict:
    """How one message ended: the row's final status, why, and the replies it caused."""

    status: str
    outcome: str
    link: store.ReplyLink | None = None


class Inbox:
    """Processes stored messages in the background, in order per sender.

    ``accepted()`` hands it a message this process just stored; ``run()`` also finds
    what a crash left behind or another process stored.
    """

    def __init__(self, runtime: Runtime, options: MailOptions) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.service = runtime.service
        self.options = options
        self.address = SubmitAddress.parse(runtime.settings.submit_address)
        self.reviews = ReviewAnswers(runtime, self.address)
        self._wake = asyncio.Event()
        self._senders: dict[str, tuple[asyncio.Lock, int]] = {}
        self._slots = asyncio.Semaphore(max(1, options.concurrency))
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._finished = asyncio.Condition()
        self._scanning = False

    def accepted(self, row_id: int, mail_from: str) -> None:
        """A message was just stored by this process: process it without looking it up."""
        self._schedule(row_id, store.sender_key(mail_from, row_id))

    def wake(self) -> None:
        """Look in the database now (for messages stored by another process)."""
        self._wake.set()

    async def run(self) -> None:
        """Process what is pending (after a crash too), then poll for what others stored."""
        retry_failed = True
        while True:
            self._wake.clear()
            self._scanning = True
            try:
                rows = await store.pending(self.db, set(self._inflight), retry_failed,
                                           self.options.max_attempts)
            except Exception:  # noqa: BLE001 - database down: try again at the next poll
                log.exception("cannot read pending mail")
                rows = []
            retry_failed = False
            for row_id, sender in rows:
                self._schedule(row_id, sender)
            self._scanning = False
            async with self._finished:
                self._finished.notify_all()
            # Not asyncio.wait_for: on Python 3.11 it can swallow a cancellation that
            # arrives as the event is set, and the task would never stop.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.options.poll_seconds):
                    await self._wake.wait()

    async def stop(self) -> None:
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until nothing is being processed (tests and the benchmark wait on this)."""
        async with asyncio.timeout(timeout), self._finished:
            await self._finished.wait_for(
                lambda: not (self._inflight or self._scanning or self._wake.is_set()))

    async def wait_processed(self, inbound_id: int, timeout: float) -> bool:
        """True once this process has finished with the message it was working on."""
        task = self._inflight.get(inbound_id)
        if task is None:
            return False
        done, _pending = await asyncio.wait({task}, timeout=timeout)
        return bool(done)

    def _schedule(self, row_id: int, sender: str) -> None:
        # Tasks start in creation order and first wait on their sender's lock, which
        # hands it over first come, first served: one sender's messages stay in order.
        if row_id in self._inflight:
            return  # a scan found what ``accepted`` had already scheduled
        lock, users = self._senders.get(sender, (asyncio.Lock(), 0))
        self._senders[sender] = (lock, users + 1)
        self._inflight[row_id] = asyncio.create_task(self._guarded(row_id, sender, lock))

    async def _guarded(self, row_id: int, sender: str, lock: asyncio.Lock) -> None:
        try:
            async with lock, self._slots:
                await self.process(row_id)
        finally:
            self._inflight.pop(row_id, None)
            lock, users = self._senders[sender]
            if users > 1:
                self._senders[sender] = (lock, users - 1)
            else:
                del self._senders[sender]
            async with self._finished:
                self._finished.notify_all()

    async def process(self, row_id: int) -> None:
        """Process one stored message; a bug marks it failed, kept for a later attempt."""
        stored = await store.claim(self.db, row_id)
        if stored is None:
            return
        try:
            verdict = await self._decide(stored)
        except Exception as error:  # noqa: BLE001 - kept with its error, never lost
            log.exception("processing mail %s failed", row_id)
            await store.conclude(self.db, row_id, "failed", "error", self.address.domain,
                                 error=repr(error)[:2000])
            return
        await store.conclude(self.db, row_id, verdict.status, verdict.outcome,
                             self.address.domain, link=verdict.link)

    async def _decide(self, stored: store.StoredMail) -> Verdict:
        mail = await asyncio.to_thread(parse_message, stored.raw, envelope_from=stored.mail_from)
        sender = mail.from_address
        bounce = delivery_report(mail)
        reason = None if bounce else robot_reason(mail, stored.mail_from)
        if reason is None and bounce is None and self.address.accepts(sender):
            reason = "ourselves"
        tags = [t for t in (self.address.tag_of(r) for r in stored.rcpt_tos) if t]
        prepared = await store.prepare(
            self.db, stored, sender=sender, subject=mail.subject,
            thread_ids=[*mail.references, mail.message_id][-10:], tags=tags,
            message_ids=[*mail.in_reply_to, *reversed(mail.references)],
            conversation=bounce is None and reason is None)
        if prepared.duplicate:
            return Verdict("duplicate", "duplicate")
        if bounce is not None:
            await self._record_bounce(mail, bounce, stored)
            return Verdict("processed", "bounce")
        if reason is not None:
            await self.service.record(actor=sender or stored.mail_from or "unknown",
                                      channel=CHANNEL, action="mail.automated_ignored",
                                      detail={"reason": reason, "message_id": mail.message_id,
                                              "subject": mail.subject})
            return Verdict("ignored", f"robot:{reason}")
        if not sender:
            return Verdict("ignored", "no-sender")
        if prepared.review is not None:  # an answer in a review thread, not a conversation
            status, outcome = await self.reviews.answer(stored, mail, prepared.review)
            return Verdict(status, outcome)
        if prepared.contributor_id is None:
            assert prepared.match is not None
            await self._refuse_stranger(stored, mail, prepared.match)
            return Verdict("processed", "stranger")
        return await self._turn(mail, ConversationKey(CHANNEL, prepared.contributor_id))

    async def _turn(self, mail: ParsedMail, key: ConversationKey) -> Verdict:
        ignored = mail.ignored
        if mail.ignored_more:
            ignored += (self.runtime.renderer.render(
                "mail_more_attachments", {"count": mail.ignored_more}, "mail"),)
        event = Inbound("text", text=mail.text, file=mail.card, sender_email=mail.from_address,
                        ignored_attachments=ignored)
        outcome = await self.service.handle(key, event, source=CHANNEL,
                                            external_id=mail.message_id)
        if outcome.duplicate:  # committed before a crash: its replies may still be waiting
            return Verdict("duplicate", "duplicate",
                           store.ReplyLink([], key.contributor_id, adopt=True))
        state = outcome.state.model_dump(mode="json") if outcome.state is not None else {}
        link = store.ReplyLink(outcome.outbox_ids, key.contributor_id,
                               state.get("submission_id"),
                               {"phase": state.get("phase"), "missing": missing_fields(state)})
        return Verdict("processed", "conversation", link)

    async def _refuse_stranger(self, stored: store.StoredMail, mail: ParsedMail,
                               match: ThreadMatch) -> None:
        """Someone else answered a contributor's thread: tell them, politely, change nothing."""
        payload = {"parts": [{"template": "mail_stranger",
                              "context": {"reference": match.reference,
                                          "submit_address": self.address.address}}],
                   "choices": None, "reference": None, "mail": {"kind": "notice"}}
        async with self.db.transaction() as session:
            message = enqueue(session, CHANNEL, mail.from_address, payload)
            await session.flush()
            session.add(OutboundMail(outbox_id=message.id, inbound_id=stored.id,
                                     recipient=mail.from_address, contributor_id=None,
                                     message_id=new_message_id(self.address.domain),
                                     context={}, status="queued"))
        await self.service.record(actor=mail.from_address, channel=CHANNEL,
                                  action="mail.stranger_refused",
                                  submission_id=match.submission_id,
                                  detail={"conversation": match.contributor_id,
                                          "matched_by": match.by,
                                          "message_id": mail.message_id})
        if self.service.on_enqueued:
            self.service.on_enqueued()

    async def _record_bounce(self, mail: ParsedMail, bounce: Bounce,
                             stored: store.StoredMail) -> None:
        """A delivery report about one of our replies goes on the submission's record."""
        ours = await store.outbound_by_message_ids(self.db, list(bounce.original_message_ids))
        action = {"failed": "mail.bounced", "delayed": "mail.delayed"}.get(bounce.action,
                                                                          "mail.delivery_report")
        actor = mail.from_address or stored.mail_from or "mailer-daemon"
        detail = {"recipients": list(bounce.recipients), "status": bounce.status,
                  "diagnostic": bounce.diagnostic, "action": bounce.action}
        if not ours:
            await self.service.record(actor=actor, channel=CHANNEL,
                                      action="mail.bounce_unmatched",
                                      detail={**detail, "message_ids":
                                              list(bounce.original_message_ids)})
            return
        for outbound in ours:
            if bounce.action == "failed":
                await store.mark_outbound(self.db, outbound.id, "bounced")
            await self.service.record(actor=actor, channel=CHANNEL, action=action,
                                      submission_id=outbound.submission_id,
                                      detail={**detail, "message_id": outbound.message_id,
                                              "contributor": outbound.contributor_id})
