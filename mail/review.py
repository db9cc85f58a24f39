"""Reviewing by e-mail: each submission's review thread is an e-mail thread to the reviewers.

The mode for a deployment without Slack reviewing (no Slack, or no review channel) that
names reviewers in ``INTAKE_REVIEW_EMAILS``. Outbox channel ``review`` becomes e-mail to
them: the summary with the card attached and its check report when a submission arrives,
then what the contributor writes and every change of status, all in one thread. A
reviewer answers with a decision on the first line of a reply; ``ReviewDesk`` applies it
and tells the contributor on their own channel. Replies come back to a plus-address whose
token names the thread (``data+r<token>@``), or are matched by the Message-IDs they quote.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core import repository
from core.outbox import OutboundRecord, PermanentFailure, RetryLater
from core.render import Renderer, render_reply
from core.review import CONTRIBUTOR_PREFIX, Decision, ReviewDesk, parse_decision
from core.service import IntakeService
from core.settings import Settings
from core.status import Move, next_status
from core.storage.database import Database
from mail import store
from mail.bodytext import body_part, body_text
from mail.compose import Letter, build_message
from mail.delivery import RelayDeliverer, relay
from mail.options import MailOptions
from mail.parsing import ParsedMail
from mail.quotes import new_lines
from mail.threads import CHANNEL, review_key

HOLD_SECONDS = 3.0
ANSWER = "review.answer"  # our own kind: an answer to one person's e-mail in the thread
DONE = ("sent", "bounced", "suppressed", "merged")


def review_by_mail(settings: Settings) -> bool:
    """E-mail review mode: reviewer addresses given and Slack not set up for reviewing."""
    slack_reviews = settings.slack_enabled and bool(settings.review_channel)
    return bool(settings.review_emails) and not slack_reviews


def reviewers(settings: Settings) -> list[str]:
    """The reviewer addresses, each once (compared without regard to case)."""
    found: dict[str, str] = {}
    for address in settings.review_emails:
        found.setdefault(address.strip().lower(), address.strip())
    return [address for address in found.values() if address]


def reviewers_of(settings: Settings, context: dict[str, Any]) -> list[str]:
    """Who gets a submission's review thread: the reviewers, except its contributor."""
    own = {str(context.get("email") or "").lower(), str(context.get("contributor") or "").lower()}
    return [address for address in reviewers(settings) if address.lower() not in own]


def is_reviewer(settings: Settings, address: str) -> bool:
    """Only a listed address may decide (From is compared without regard to case)."""
    return address.strip().lower() in {a.lower() for a in reviewers(settings)}


def reviewer_text(mail: ParsedMail, own_address: str = "") -> str:
    """What the reviewer just wrote, quotes and sign-off removed but every line kept.

    ``ParsedMail.text`` keeps only ``Key: value`` lines when there are some (a
    contributor's answers); a reviewer's "changes:" text must not lose its prose.
    """
    if mail.message is None:
        return mail.text
    try:
        body = body_part(mail.message)
        return (new_lines(body_text(body), own_address=own_address)
                if body is not None else "")
    except Exception:  # noqa: BLE001 - an unreadable body is an empty one
        return ""


def read_decision(text: str) -> tuple[Decision, str] | None:
    """``parse_decision``, plus the Slack thread's "to contributor:" meaning a question."""
    found = parse_decision(text)
    if found is None and text.strip().lower().startswith(CONTRIBUTOR_PREFIX):
        return Decision.ASK, text.strip()[len(CONTRIBUTOR_PREFIX):].strip()
    return found


def _card_type(filename: str) -> str:
    return "text/markdown" if filename.lower().endswith((".md", ".markdown")) else "text/plain"


@dataclass
class ReviewPlan:
    """What one e-mail of a review thread needs, read in one transaction."""

    message_id: str
    token: str
    earlier_waiting: bool = False  # an earlier e-mail of this thread is not sent yet
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    card: tuple[str, bytes] | None = None  # (filename, content) of a card to attach


class ReviewMailDeliverer(RelayDeliverer):
    """The outbox's deliverer for channel ``review`` in e-mail review mode."""

    def __init__(self, settings: Settings, db: Database, renderer: Renderer,
                 service: IntakeService, options: MailOptions,
                 clock: Callable[[], datetime] = repository.mail_now) -> None:
        super().__init__(settings, db, renderer, service, options, clock)
        self.desk = ReviewDesk(db)

    async def __call__(self, record: OutboundRecord) -> None:
        payload = record.payload
        kind = str(payload.get("kind") or "")
        reference = payload.get("reference")
        if not reference or kind not in ("review.open", "review.relay", "review.status",
                                         ANSWER):
            raise PermanentFailure(f"not a review e-mail: {kind!r} for {reference!r}")
        context = await self.desk.context(reference)
        if context is None:
            raise PermanentFailure(f"no submission {reference}")
        one_person = kind == ANSWER
        recipients = ([record.recipient] if one_person
                      else reviewers_of(self.settings, context))
        plan = await self._plan(record, reference, one_person, kind)
        if plan.earlier_waiting:  # the thread keeps its order: open, then what followed
            raise RetryLater(HOLD_SECONDS, "an earlier e-mail of this review thread waits")
        if not recipients:
            raise PermanentFailure("INTAKE_REVIEW_EMAILS names no one but the contributor")
        letter = self._letter(kind, payload, context, plan, recipients)
        try:
            message = build_message(letter, from_name=self.renderer.render("from_name", {},
                                                                           "mail"),
                                    from_address=self.address.address, when=self.clock())
        except (ValueError, TypeError) as error:
            raise PermanentFailure(f"cannot write this e-mail: {error!r}") from error
        refused = await relay(self.settings, self.options, self.address, message, recipients)
        if refused:
            await self.service.record(actor="intake", channel=CHANNEL,
                                      action="mail.review_recipients_refused",
                                      submission_id=record.submission_id,
                                      detail={"refused": refused,
                                              "message_id": plan.message_id})
        await self._after(kind, reference, plan.message_id, recipients)

    async def _after(self, kind: str, reference: str, message_id: str,
                     recipients: list[str]) -> None:
        """The first e-mail is out: the thread exists and the submission is in review."""
        if kind == "review.open":
            await self.desk.thread_opened(reference, {"mail_message_id": message_id,
                                                      "mail_reviewers": recipients})

    async def _plan(self, record: OutboundRecord, reference: str, one_person: bool,
                    kind: str) -> ReviewPlan:
        """The e-mail's Message-ID (one across retries), its place in the thread, the token.

        An answer to one person was given its Message-ID and thread when it was queued;
        the thread's own e-mails get theirs here, in the order they are sent.
        """
        thread = review_key(reference)
        payload = record.payload
        async with self.db.transaction() as session:
            earlier = await repository.mail_review_waiting_before(
                session, record.submission_id, record.id)
            outbound = await store.outbound_for(session, record.id)
            if outbound is None:
                message_id = str((payload.get("mail") or {}).get("message_id")
                                 or store.message_id_for(self.address.domain))
                await store.record_outbound(
                    session, outbox_id=record.id,
                    recipient=record.recipient if one_person else thread, contributor_id=None,
                    submission_id=record.submission_id, message_id=message_id,
                    context={"review": reference})
            else:
                message_id = outbound.message_id
            sent = await store.thread_message_ids(session, thread, but=message_id)
            plan = ReviewPlan(message_id=message_id,
                              token=await store.review_token(session, reference),
                              earlier_waiting=earlier, in_reply_to=sent[-1] if sent else None,
                              references=[*sent[:1], *sent[1:][-8:]])
            answered = payload.get("mail") or {}
            if one_person and answered.get("in_reply_to"):
                plan.in_reply_to = str(answered["in_reply_to"])
                plan.references = list(dict.fromkeys(
                    [*sent[:1], *[str(m) for m in answered.get("references") or []][-10:]]))
            card_version_id = payload.get("card_version_id") if kind == "review.relay" else None
            if card_version_id is not None:
                plan.card = await repository.mail_card(session, int(card_version_id))
        return plan

    def _letter(self, kind: str, payload: dict[str, Any], context: dict[str, Any],
                plan: ReviewPlan, recipients: list[str]) -> Letter:
        """Subject, body and attachment of one thread e-mail; the words are templates'."""
        reference = context["reference"]
        notice = bool(payload.get("notice"))
        reply_to = self.address.address if notice else self.address.with_tag(
            payload.get("confirm") or plan.token)
        subject = self.renderer.render("review_subject", {
            "reference": reference, "name": context["name"],
            "reply": kind != "review.open"}, "mail")
        common = {**context, "reply_to": reply_to, "submit_address": self.address.address}
        attachments: list[tuple[str, bytes, str]] = []
        if kind == "review.open":
            # Once this e-mail is out the submission is in review: say so already.
            status = next_status(context["status"], Move.THREAD_OPENED) or context["status"]
            summary = self.renderer.render("review_summary", {**context, "status": status},
                                           "mail")
            body = self.renderer.render("review_open", {**common, "summary": summary}, "mail")
            card = context.get("card")
            if card and card.get("content") is not None:
                attachments.append((card["filename"], bytes(card["content"]),
                                    _card_type(card["filename"])))
        elif kind == "review.relay":
            body = self.renderer.render("review_relay", {
                **common, "text": payload.get("text") or "",
                "filename": payload.get("filename"), "report": payload.get("report"),
                "status": payload.get("status") or context["status"],
                "attached": plan.card is not None}, "mail")
            if plan.card is not None:
                filename, content = plan.card
                attachments.append((filename, content, _card_type(filename)))
        elif kind == "review.status":
            body = self.renderer.render("review_status", {
                **common, "status": payload.get("status") or context["status"],
                "decision": payload.get("decision") or "", "by": payload.get("by") or "",
                "text": payload.get("text") or ""}, "mail")
        else:
            body = self.renderer.render("review_answer", {
                **common, "text": render_reply(self.renderer, payload, "mail"),
                "notice": notice}, "mail")
        return Letter(recipient=", ".join(recipients), subject=" ".join(subject.split()),
                      body=body + "\n", reply_to=reply_to,
                      message_id=plan.message_id, in_reply_to=plan.in_reply_to,
                      references=plan.references, attachments=attachments,
                      auto_submitted="auto-replied" if kind == ANSWER else "auto-generated")
