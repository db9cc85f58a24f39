"""What each logged e-mail means, for the one event worker (``core.worker``).

``translate`` reads the raw message (MIME, quotes, robots and bounces, plus-address
tags) in a thread, touching nothing else. ``apply`` runs inside the event's one
transaction: the thread match and stranger check, a bounce on record, an answer in a
review thread, or the conversation's turn; every reply it queues already carries what
delivery needs (Message-ID, In-Reply-To, References, subject, reply token), so the
deliverer only composes and sends. A reply nothing holds up is claimed in the same
transaction and delivered right after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from core import confirmations, loops, repository
from core.conversation import Inbound
from core.inbound import StoredEvent
from core.render import Renderer
from core.review import ReviewDesk, Reviewer
from core.service import ConversationKey, IntakeService, confirm_hours
from core.settings import Settings
from core.trust import ReviewGate, SenderTrust, confirms, review_gate
from mail import store
from mail.auth import Authentication, DnsTxt, authenticate
from mail.compose import missing_fields
from mail.options import MailOptions
from mail.parsing import ParsedMail, from_mailbox, parse_message
from mail.review import ANSWER, is_reviewer, read_decision, review_by_mail, reviewer_text
from mail.robots import Bounce, delivery_report, robot_reason
from mail.threads import CHANNEL, SubmitAddress, ThreadMatch, match_thread, new_message_id

if TYPE_CHECKING:
    from core.worker import Unit

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=1)  # the loop guard looks this far back


@dataclass(frozen=True)
class MailFacts:
    """One e-mail as facts: parsed, classified, no database involved."""

    mail_from: str
    rcpt_tos: list[str]
    mail: ParsedMail  # without the parsed tree: it is not kept while the turn runs
    bounce: Bounce | None
    robot: str | None
    tags: list[str]
    written: str  # every line the sender wrote (a reviewer's text), quotes removed
    event: Inbound  # its ``sender_trust`` is what ``auth`` found
    auth: Authentication = Authentication(SenderTrust.NONE, "")
    unsafe_from: bool = False  # a From header no reply could safely be addressed from


class MailHandler:
    """Channel ``mail`` of the inbound worker."""

    channel = CHANNEL

    def __init__(self, settings: Settings, service: IntakeService, renderer: Renderer,
                 options: MailOptions, desk: ReviewDesk | None = None) -> None:
        self.settings = settings
        self.desk = desk or ReviewDesk(service.db, clock=service.clock)
        self.service = service
        self.renderer = renderer
        self.options = options
        self.address = SubmitAddress.parse(settings.submit_address)
        self.trusted_authserv_ids = frozenset(i.lower() for i in settings.trusted_authserv_ids)
        # DNS for our own DKIM check: dkimpy's resolver unless one is passed in (tests).
        self.dns_txt: DnsTxt | None = None

    # -- translate: pure ------------------------------------------------------------------

    async def translate(self, event: StoredEvent) -> MailFacts:
        return await asyncio.to_thread(self._read, event)

    def _read(self, event: StoredEvent) -> MailFacts:
        mail_from = str(event.payload.get("mail_from") or "")
        rcpt_tos = [str(r) for r in event.payload.get("rcpt_tos") or []]
        mail = parse_message(event.raw or b"", envelope_from=mail_from,
                             own_address=self.address.address)
        bounce = delivery_report(mail)
        reason = None if bounce else robot_reason(mail, mail_from)
        if reason is None and bounce is None and self.address.accepts(mail.from_address):
            reason = "ourselves"
        written = (reviewer_text(mail, self.address.address)
                   if reason is None and bounce is None else "")
        ignored = mail.ignored
        if mail.ignored_more:
            ignored += (self.renderer.render(
                "mail_more_attachments", {"count": mail.ignored_more}, "mail"),)
        auth = Authentication(SenderTrust.NONE, "")
        if reason is None and bounce is None and mail.from_address:
            auth = authenticate(event.raw or b"", mail.from_address,
                                trusted_authserv_ids=self.trusted_authserv_ids,
                                verify_dkim=self.settings.verify_dkim, dns_txt=self.dns_txt)
        inbound = Inbound("text", text=mail.text, file=mail.card,
                          sender_email=mail.from_address, ignored_attachments=ignored,
                          sender_trust=auth.trust)
        unsafe = not from_mailbox(mail.headers.get("from", ""))[1]
        tags = [t for t in (self.address.tag_of(r) for r in rcpt_tos) if t]
        return MailFacts(mail_from, rcpt_tos, dataclasses.replace(mail, message=None), bounce,
                         reason, tags, written, inbound, auth, unsafe)

    # -- apply: inside the event's transaction --------------------------------------------

    async def apply(self, unit: Unit, facts: MailFacts) -> str:
        session, mail = unit.session, facts.mail
        sender = mail.from_address
        if facts.bounce is not None:
            await self._record_bounce(session, facts, facts.bounce)
            return "bounce"
        if facts.robot is not None:
            await self.service.audit_in(
                session, actor=sender or facts.mail_from or "unknown", channel=CHANNEL,
                action="mail.automated_ignored",
                detail={"reason": facts.robot, "message_id": mail.message_id,
                        "subject": mail.subject})
            return f"robot:{facts.robot}"
        if not sender:
            if facts.unsafe_from:  # the inbox refuses these at DATA; one logged before
                await self.service.audit_in(session, actor=facts.mail_from or "unknown",
                                            channel=CHANNEL, action="mail.sender_refused",
                                            detail={"message_id": mail.message_id})
                log.warning("refused a message: its From header is unsafe")
                return "sender-refused"
            return "no-sender"
        confirming = [t for t in facts.tags if confirmations.is_confirmation_tag(t)]
        if confirming and confirms(facts.written):
            return await self._confirmation(unit, facts, confirming[0])
        quoted = [*mail.in_reply_to, *reversed(mail.references)]
        # A review token names its thread exactly; then a contributor's token or thread;
        # then a reply to a review e-mail that lost the token on the way.
        review = await store.review_match(session, facts.tags, [])
        match = None if review else await match_thread(session, facts.tags, quoted)
        if review is None and match is None:
            review = await store.review_match(session, [], quoted)
        if review is not None:
            return await self._review_answer(unit, facts, review)
        if match is not None and sender not in await store.speakers(session, match):
            await self._refuse_stranger(unit, facts, match)
            return "stranger"
        return await self._turn(unit, facts, match.contributor_id if match else sender)

    async def _turn(self, unit: Unit, facts: MailFacts, contributor: str) -> str:
        session = unit.session
        outcome = await unit.turn(ConversationKey(CHANNEL, contributor), facts.event)
        state = outcome.state.model_dump(mode="json") if outcome.state is not None else {}
        later = bool(unit.follow_ups)  # a card fetched by URL joins this reply, then it goes
        reference = state.get("reference")
        confirm = next((r["confirm"] for r in outcome.replies if r.get("confirm")), None)
        for outbox_id in outcome.outbox_ids:
            delivery = await self._threading(session, facts.mail, contributor)
            await self._same_thread(session, delivery, contributor, reference)
            # A request held for confirmation: the reply address carries its token; the
            # reply goes to the address on record (``contributor``), never the claimant.
            delivery["token"] = confirm or await store.token(session, contributor)
            if not later:
                delivery.update(phase=state.get("phase"), missing=missing_fields(state))
            if confirm:  # a confirmation request asks one thing: no list of what is missing
                delivery.update(missing=[], forget_after_sending=["token"])
            await unit.annotate(outbox_id, "mail", delivery)
            await store.record_outbound(
                session, outbox_id=outbox_id, recipient=contributor,
                contributor_id=contributor, submission_id=state.get("submission_id"),
                message_id=delivery["message_id"], subject=delivery["subject"],
                context={"reference": reference})
            await self._guard(unit, facts, outbox_id, contributor, outcome.progressed,
                              state.get("submission_id"))
        return "conversation"

    async def _threading(self, session: AsyncSession, mail: ParsedMail,
                         recipient: str) -> dict[str, Any]:
        """Our reply's Message-ID, and its place in the thread of the message it answers."""
        references = [*mail.references, mail.message_id][-10:]
        in_reply_to: str | None = mail.message_id
        if mail.message_id.startswith("<sha256."):  # made up by us: means nothing to them
            earlier = await store.previous(session, recipient)
            in_reply_to = earlier.message_id if earlier is not None else None
            references = [m for m in references if m != mail.message_id]
            if in_reply_to:
                references.append(in_reply_to)
        return {"message_id": new_message_id(self.address.domain), "in_reply_to": in_reply_to,
                "references": references, "subject": mail.subject}

    @staticmethod
    async def _same_thread(session: AsyncSession, delivery: dict[str, Any], contributor: str,
                           reference: str | None) -> None:
        """One conversation, one mail thread: the subject its first e-mail had (a later
        message with other words in its subject is answered in the same thread), and our
        last e-mail in References when their message does not name it."""
        first = await store.thread_subject(session, contributor, reference)
        if first is not None:
            delivery["subject"] = first
        earlier = await store.previous(session, contributor)
        if earlier is not None and earlier.message_id not in delivery["references"]:
            delivery["references"] = [earlier.message_id, *delivery["references"]][-10:]

    async def _guard(self, unit: Unit, facts: MailFacts, outbox_id: int, recipient: str,
                     progressed: bool, submission_id: int | None) -> None:
        """The core's loop guard: past the hourly cap, a reply that answers nothing new
        (no progress, words the sender already wrote) is not sent; others always are."""
        session, now = unit.session, self.service.clock()
        if await loops.hold_back(session, outbox_id=outbox_id,
                                 heard=loops.heard_in(facts.event), progressed=progressed,
                                 limit=self.options.replies_per_hour, window=WINDOW, now=now):
            ours = [record for record in unit.claimed if record.id == outbox_id]
            for record in ours:
                unit.claimed.remove(record)
            await loops.suppress(session, outbox_id, claimed_here=bool(ours))
            await self.service.audit_in(
                session, actor="intake", channel=CHANNEL, action="mail.reply_suppressed",
                submission_id=submission_id,
                detail={"recipient": recipient, "outbox_id": outbox_id,
                        "limit_per_hour": self.options.replies_per_hour})

    async def _refuse_stranger(self, unit: Unit, facts: MailFacts, match: ThreadMatch) -> None:
        """Someone else answered a contributor's thread: tell them, politely, change nothing."""
        session, mail = unit.session, facts.mail
        notice_id = await self._notice(unit, facts, "mail_stranger",
                                       {"submit_address": self.address.address})
        await self.service.audit_in(session, actor=mail.from_address, channel=CHANNEL,
                                    action="mail.stranger_refused",
                                    submission_id=match.submission_id,
                                    detail={"conversation": match.contributor_id,
                                            "matched_by": match.by,
                                            "message_id": mail.message_id})
        log.warning("refused a message in someone else's thread (matched by %s)", match.by)
        await self._guard(unit, facts, notice_id, mail.from_address, False, None)

    async def _record_bounce(self, session: AsyncSession, facts: MailFacts,
                             bounce: Bounce) -> None:
        """A delivery report about one of our e-mails goes on the submission's record."""
        ours = await store.outbound_by_message_ids(session, list(bounce.original_message_ids))
        action = {"failed": "mail.bounced", "delayed": "mail.delayed"}.get(bounce.action,
                                                                          "mail.delivery_report")
        actor = facts.mail.from_address or facts.mail_from or "mailer-daemon"
        detail = {"recipients": list(bounce.recipients), "status": bounce.status,
                  "diagnostic": bounce.diagnostic, "action": bounce.action}
        if not ours:
            await self.service.audit_in(session, actor=actor, channel=CHANNEL,
                                        action="mail.bounce_unmatched",
                                        detail={**detail, "message_ids":
                                                list(bounce.original_message_ids)})
            return
        for outbound in ours:
            if bounce.action == "failed":
                await store.mark_outbound(session, outbound.id, "bounced")
            await self.service.audit_in(session, actor=actor, channel=CHANNEL, action=action,
                                        submission_id=outbound.submission_id,
                                        detail={**detail, "message_id": outbound.message_id,
                                                "contributor": outbound.contributor_id})

    # -- an answer in a review thread ---------------------------------------------------------

    async def _review_answer(self, unit: Unit, facts: MailFacts,
                             match: store.ReviewMatch) -> str:
        """Only a listed reviewer's decision changes anything; it commits with the event."""
        session, mail = unit.session, facts.mail
        sender = mail.from_address
        if not review_by_mail(self.settings):
            await self.service.audit_in(session, actor=sender, channel=CHANNEL,
                                        action="mail.review_mode_off",
                                        submission_id=match.submission_id,
                                        detail={"message_id": mail.message_id})
            log.warning("ignored an answer to the review of %s: review by e-mail is off",
                        match.reference)
            return "review:off"
        if not is_reviewer(self.settings, sender):
            told = await repository.mail_audited(session, submission_id=match.submission_id,
                                                 actor=sender, action="mail.review_outsider")
            await self.service.audit_in(session, actor=sender, channel=CHANNEL,
                                        action="mail.review_outsider",
                                        submission_id=match.submission_id,
                                        detail={"message_id": mail.message_id,
                                                "matched_by": match.by, "told": not told})
            log.warning("refused a decision on %s by e-mail: not a listed reviewer",
                        match.reference)
            if not told:  # they hear so once per submission, then silence
                await self._tell(unit, facts, match, "review_refused_not_reviewer",
                                 {"reference": match.reference}, notice=True)
            return "review:outsider"
        found = read_decision(facts.written)
        if found is None:
            await self.service.audit_in(session, actor=sender, channel=CHANNEL,
                                        action="mail.review_comment",
                                        submission_id=match.submission_id,
                                        detail={"text": facts.written[:2000],
                                                "message_id": mail.message_id})
            await self._tell(unit, facts, match, "review_unclear",
                             {"reference": match.reference})
            return "review:comment"
        decision, words = found
        gate = review_gate(named_by_token=match.by == "token", trust=facts.event.sender_trust)
        if gate is not ReviewGate.ALLOW:
            return await self._hold_decision(unit, facts, match, str(decision), gate)
        result = await self.desk.decide_in(session, match.reference,
                                           Reviewer(id=sender, channel=CHANNEL, email=sender),
                                           decision, words, is_reviewer=True)
        if result.applied:
            return f"review:{decision}"
        await self._tell(unit, facts, match, result.refused or "review_refused_unknown",
                         {"reference": match.reference, "status": result.status,
                          "decided_by": result.decided_by})
        return "review:refused"

    async def _hold_decision(self, unit: Unit, facts: MailFacts, match: store.ReviewMatch,
                             decision: str, gate: ReviewGate) -> str:
        """A decision the core will not take on this message's word: refused when the
        thread was named only by a quoted Message-ID, else held while the reviewer's
        listed mailbox is asked to confirm. Either way an audit row, a log line, and
        nothing changed."""
        session, sender = unit.session, facts.mail.from_address
        detail = {"decision": decision, "message_id": facts.mail.message_id,
                  "matched_by": match.by, "trust": str(facts.event.sender_trust),
                  "authenticated_by": facts.auth.by}
        if gate is ReviewGate.NO_TOKEN:
            await self.service.audit_in(session, actor=sender, channel=CHANNEL,
                                        action="mail.review_refused_no_token",
                                        submission_id=match.submission_id, detail=detail)
            log.warning("refused a decision on %s by e-mail: no review token", match.reference)
            await self._tell(unit, facts, match, "review_refused_no_token",
                             {"reference": match.reference})
            return "review:refused"
        token = await confirmations.hold_in(
            session, channel=CHANNEL, contributor_id=sender, purpose="reviewer",
            action="decision", reference=match.reference, event_id=unit.event.id,
            now=self.service.clock(), valid_for=self.settings.confirm_within)
        await self.service.audit_in(session, actor=sender, channel=CHANNEL,
                                    action="mail.review_held_for_confirmation",
                                    submission_id=match.submission_id, detail=detail)
        log.warning("held a decision on %s by e-mail until the reviewer confirms",
                    match.reference)
        await self._tell(unit, facts, match, "review_confirmation_needed",
                         {"reference": match.reference, "decision": decision,
                          "hours": confirm_hours(self.settings.confirm_within)},
                         confirm=token)
        return "review:held"

    async def _confirmation(self, unit: Unit, facts: MailFacts, tag: str) -> str:
        """A "confirm" to a confirmation request: the held event is carried out as the
        owner of the mailbox the token went to; a stale token changes nothing."""
        session, mail = unit.session, facts.mail
        held = await confirmations.redeem_in(session, tag, self.service.clock())
        stored = (await repository.held_event(session, held.event_id)
                  if not isinstance(held, str) and held.event_id is not None else None)
        if isinstance(held, str) or stored is None:
            reason = held if isinstance(held, str) else "unknown"
            await self.service.audit_in(session, actor=mail.from_address, channel=CHANNEL,
                                        action="mail.confirmation_refused",
                                        detail={"reason": reason,
                                                "message_id": mail.message_id})
            log.warning("refused a confirmation: the token is %s", reason)
            await self._notice(unit, facts, "confirmation_refused", {"reason": reason})
            return f"confirmation:{reason}"
        original = self._read(stored)
        confirmed = dataclasses.replace(
            original, mail=mail, event=dataclasses.replace(
                original.event, sender_trust=SenderTrust.CONFIRMED))
        await self.service.audit_in(session, actor=held.contributor_id, channel=CHANNEL,
                                    action="mail.confirmed",
                                    detail={"action": held.action, "purpose": held.purpose,
                                            "reference": held.reference,
                                            "event": held.event_id,
                                            "message_id": mail.message_id})
        log.info("confirmed a held %s from the mailbox on record", held.action)
        if held.purpose == "reviewer" and held.reference:
            match = await store.review_match_of(session, held.reference)
            if match is None:
                return "confirmation:unknown"
            # As the listed reviewer the token went to: their own e-mail, now confirmed.
            return await self._review_answer(unit, dataclasses.replace(
                confirmed, mail=original.mail), match)
        return await self._turn(unit, confirmed, held.contributor_id)

    async def _notice(self, unit: Unit, facts: MailFacts, template: str,
                      context: dict[str, Any]) -> int:
        """A one-off answer to this message's sender, outside any conversation; its
        outbox id."""
        session, mail = unit.session, facts.mail
        delivery = await self._threading(session, mail, mail.from_address)
        payload = {"parts": [{"template": template, "context": context}],
                   "choices": None, "reference": None,
                   "mail": {"kind": "notice", **delivery, "token": None, "phase": None,
                            "missing": []}}
        message = await unit.enqueue(CHANNEL, mail.from_address, payload)
        await store.record_outbound(session, outbox_id=message.id, recipient=mail.from_address,
                                    contributor_id=None, submission_id=None,
                                    message_id=delivery["message_id"], subject=mail.subject)
        return message.id

    async def _tell(self, unit: Unit, facts: MailFacts, match: store.ReviewMatch,
                    template: str, context: dict[str, Any], notice: bool = False,
                    confirm: str | None = None) -> None:
        """An answer to one person's e-mail in a review thread, threaded under it;
        ``confirm``: the confirmation token its reply address carries."""
        session, mail = unit.session, facts.mail
        recipient = mail.from_address
        message_id = new_message_id(self.address.domain)
        payload = {"kind": ANSWER, "reference": match.reference, "notice": notice,
                   "confirm": confirm, "forget_after_sending": ["confirm"],
                   "parts": [{"template": template, "context": context}], "choices": None,
                   "mail": {"message_id": message_id, "in_reply_to": mail.message_id,
                            "references": [*mail.references, mail.message_id][-10:]}}
        message = await unit.enqueue("review", recipient, payload,
                                     submission_id=match.submission_id)
        await store.record_outbound(session, outbox_id=message.id, recipient=recipient,
                                    contributor_id=None, submission_id=match.submission_id,
                                    message_id=message_id,
                                    context={"review": match.reference})
        await self._guard(unit, facts, message.id, recipient, False, match.submission_id)
