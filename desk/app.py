"""The review desk in the browser, served under ``/desk/`` by the ``intake web`` process.

Reviewers sign in with a one-time link e-mailed to an address in
``INTAKE_REVIEW_EMAILS``, list and search submissions, read one (fields, the card
rendered safely and downloadable per version, its report, the history, the messages and
deliveries) and decide. Who may sign in and decide is the core's rule (``may_decide``
over ``ReviewerFacts``), and a decision is ``ReviewDesk.decide_in`` in one transaction,
exactly as in Slack and by e-mail: the core writes the audit row and queues the messages
to the contributor's channel and the review thread. A decision is answered only once it
is committed, so the browser's answer is the acknowledgement (nothing to log first).

Pages are server-rendered Jinja templates in ``templates/web/`` with autoescaping; no
scripts at all (the Content-Security-Policy forbids them).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from core import repository
from core.cards import CardReport, render_report
from core.logs import event as log_event
from core.outbox import FORGET, enqueue
from core.render import TEMPLATES_DIR, render_reply
from core.review import OPEN, Decision, Reviewer, ReviewerFacts, Status, may_decide
from core.runtime import Runtime
from desk.auth import (
    COOKIE,
    COOKIE_PATH,
    LINK_MINUTES,
    LINKS_PER_HOUR,
    DeskSession,
    Sessions,
    anonymous,
    new_token,
    token_hash,
)
from desk.cards import render_card
from desk.conversation import Line, inbound_text
from mail.delivery import STANDALONE

log = logging.getLogger(__name__)

CHANNEL = "desk"  # what the audit rows say a decision came from
STATIC = Path(__file__).resolve().parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # a sign-in link in the address bar never leaks
    "Cache-Control": "no-store",
}
WAITING = ("pending", "sending")
_SAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def setup(app: web.Application, runtime: Runtime) -> WebDesk:
    """The ``intake.web`` entry point: add the desk's routes to the web adapter's app;
    the web adapter calls ``started`` once it listens."""
    desk = WebDesk(runtime)
    desk.add_routes(app)
    return desk


def _aware(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def age(moment: datetime, now: datetime) -> str:
    """``3 d``, ``5 h``, ``12 min``, ``<1 min``: how long ago, at a glance."""
    seconds = max(0, int((now - _aware(moment)).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return "<1 min"


class WebDesk:
    """The desk's request handlers, over the process's runtime (database, review desk)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        self.sending: set[asyncio.Task[None]] = set()  # links being stored and queued
        secret = self.settings.desk_secret
        if not secret:
            import secrets

            secret = secrets.token_urlsafe(32)
        self.sessions = Sessions(secret, secure=(self.settings.desk_url or "")
                                 .lower().startswith("https://"))
        self.pages = Environment(loader=FileSystemLoader(str(TEMPLATES_DIR / "web")),
                                 autoescape=True, undefined=StrictUndefined,
                                 trim_blocks=True, lstrip_blocks=True)
        self.pages.filters["when"] = lambda moment: _aware(moment).strftime(
            "%Y-%m-%d %H:%M UTC")
        self.pages.globals["statuses"] = [status.value for status in Status]

    def clock(self) -> datetime:
        """The service's clock (a test may move it), not a copy taken at start-up."""
        return self.runtime.service.clock()

    def add_routes(self, app: web.Application) -> None:
        app.on_cleanup.append(self.finish_sending)
        if not any(resource.canonical == "/" for resource in app.router.resources()):
            app.router.add_get("/", self.to_desk)  # the HTTP process's front page
        app.router.add_get("/desk", self.to_desk)
        app.router.add_get("/desk/", self.guarded(self.list_page))
        app.router.add_get("/desk/static/desk.css", self.stylesheet)
        app.router.add_get("/desk/sign-in", self.sign_in_page)
        app.router.add_post("/desk/sign-in", self.sign_in_request)
        app.router.add_get("/desk/sign-in/{token}", self.link_page)
        app.router.add_post("/desk/sign-in/{token}", self.link_use)
        app.router.add_post("/desk/sign-out", self.sign_out)
        app.router.add_get("/desk/submissions/{reference}", self.guarded(self.submission_page))
        app.router.add_get("/desk/submissions/{reference}/cards/{version:\\d+}",
                           self.guarded(self.card_download))
        app.router.add_post("/desk/submissions/{reference}/decision",
                            self.guarded(self.decision))

    def started(self) -> None:
        """Said once the process listens (a start-up failure stays its one line)."""
        if not self.settings.desk_secret:
            log.warning("INTAKE_DESK_SECRET is not set: review desk sessions end when this "
                        "process stops and are not shared with other web processes")

    # -- who is here ---------------------------------------------------------------------

    def facts(self) -> ReviewerFacts:
        """The desk's facts for ``may_decide``: the listed reviewer addresses."""
        return ReviewerFacts(listed=frozenset(
            address.strip().lower() for address in self.settings.review_emails if address))

    @staticmethod
    def reviewer_for(address: str) -> Reviewer:
        address = address.strip()
        return Reviewer(id=address.lower(), channel=CHANNEL, name=address, email=address)

    def session_of(self, request: web.Request) -> DeskSession | None:
        return self.sessions.load(request.cookies.get(COOKIE))

    def reviewer_of(self, session: DeskSession | None) -> Reviewer | None:
        """The signed-in reviewer, if the core's rule still lets them decide."""
        if session is None or not session.email:
            return None
        reviewer = self.reviewer_for(session.email)
        return reviewer if may_decide(reviewer, self.facts()) else None

    def guarded(self, handler: Callable[[web.Request, DeskSession, Reviewer],
                                        Awaitable[web.StreamResponse]]) -> Handler:
        """No page, card or decision without a signed-in reviewer, and no POST without the
        session's CSRF token."""

        async def guard(request: web.Request) -> web.StreamResponse:
            session = self.session_of(request)
            reviewer = self.reviewer_of(session)
            if request.method == "POST":
                form = await request.post()
                if session is None or reviewer is None or not session.accepts(
                        str(form.get("csrf") or "")):
                    log_event(log, "desk request refused", logging.WARNING,
                              channel=CHANNEL, outcome="no session or CSRF token")
                    return self.page(request, "refused.j2", {}, session or anonymous(),
                                     status=403)
            elif session is None or reviewer is None:
                raise web.HTTPSeeOther("/desk/sign-in", headers=SECURITY_HEADERS)
            assert session is not None and reviewer is not None
            return await handler(request, session, reviewer)

        return guard

    # -- responses -----------------------------------------------------------------------

    def page(self, request: web.Request, template: str, context: dict[str, Any],
             session: DeskSession, *, status: int = 200) -> web.Response:
        """A rendered page; the session cookie is (re)written with it."""
        html = self.pages.get_template(template).render(
            csrf=session.csrf, signed_in=session.email if self.reviewer_of(session) else "",
            **context)
        response = web.Response(text=html, status=status, content_type="text/html",
                                charset="utf-8", headers=SECURITY_HEADERS)
        self.set_cookie(response, session)
        return response

    def set_cookie(self, response: web.StreamResponse, session: DeskSession) -> None:
        response.set_cookie(COOKIE, self.sessions.dump(session), path=COOKIE_PATH,
                            httponly=True, samesite="Lax", secure=self.sessions.secure,
                            max_age=self.sessions.max_age)

    def redirect(self, location: str, session: DeskSession | None = None) -> web.Response:
        response = web.Response(status=303, headers={**SECURITY_HEADERS,
                                                     "Location": location})
        if session is not None:
            self.set_cookie(response, session)
        return response

    def base_url(self, request: web.Request) -> str:
        """Where links point: ``INTAKE_DESK_URL``, else this server's own address and port
        (never the request's Host header, which whoever asks for a link could choose)."""
        if self.settings.desk_url:
            return self.settings.desk_url.rstrip("/")
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        port = sockname[1] if sockname else self.settings.http_port
        return f"http://{self.settings.http_host}:{port}"

    def wake_outbox(self) -> None:
        """A message was queued: let this process's outbox worker skip its poll wait."""
        if self.runtime.outbox is not None:
            self.runtime.outbox.wakeup.set()

    # -- sign-in ---------------------------------------------------------------------------

    async def to_desk(self, request: web.Request) -> web.StreamResponse:
        return self.redirect("/desk/")

    async def stylesheet(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text=(STATIC / "desk.css").read_text(encoding="utf-8"),
                            content_type="text/css", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def sign_in_page(self, request: web.Request) -> web.StreamResponse:
        session = self.session_of(request) or anonymous()
        if self.reviewer_of(session) is not None:
            return self.redirect("/desk/")
        return self.page(request, "sign_in.j2", {"sent": False, "address": ""}, session)

    async def sign_in_request(self, request: web.Request) -> web.StreamResponse:
        """E-mail a link if the address may review; the answer is the same either way."""
        session = self.session_of(request)
        form = await request.post()
        if session is None or not session.accepts(str(form.get("csrf") or "")):
            return self.page(request, "refused.j2", {}, session or anonymous(), status=403)
        typed = str(form.get("email") or "").strip()[:320]
        reviewer = self.reviewer_for(typed)
        if typed and may_decide(reviewer, self.facts()):
            # After the answer, so that its timing does not tell a reviewer's address
            # from anyone else's.
            task = asyncio.create_task(self.send_link(self.base_url(request), reviewer.id))
            self.sending.add(task)
            task.add_done_callback(self.sending.discard)
        log_event(log, "desk sign-in asked", channel=CHANNEL)
        return self.page(request, "sign_in.j2", {"sent": True, "address": typed}, session)

    async def finish_sending(self, app: web.Application) -> None:
        """On shutdown, the links asked for are stored and queued before the database goes."""
        if self.sending:
            await asyncio.gather(*self.sending, return_exceptions=True)

    async def send_link(self, base_url: str, address: str) -> None:
        """Store the hash of a new token and queue the e-mail, in one transaction; at most
        ``LINKS_PER_HOUR`` an hour per address (no one floods a reviewer's mailbox)."""
        try:
            await self._send_link(base_url, address)
        except Exception as error:  # noqa: BLE001 - the asker was answered already
            log_event(log, "desk sign-in link not sent", logging.ERROR, channel=CHANNEL,
                      outcome=repr(error))

    async def _send_link(self, base_url: str, address: str) -> None:
        listed = next((a.strip() for a in self.settings.review_emails
                       if a.strip().lower() == address), address)
        token, now = new_token(), self.clock()
        domain = self.settings.submit_address.rpartition("@")[2] or "localhost"
        async with self.runtime.db.transaction() as session:
            if await repository.desk_sign_ins_since(
                    session, address, now - timedelta(hours=1)) >= LINKS_PER_HOUR:
                log_event(log, "desk sign-in link not sent", logging.WARNING,
                          channel=CHANNEL, outcome="too many links this hour")
                return
            await repository.desk_add_sign_in(
                session, email=address, token_hash=token_hash(token), now=now,
                expires_at=now + timedelta(minutes=LINK_MINUTES))
            enqueue(session, "mail", listed, {
                "kind": STANDALONE, "template": "desk_sign_in",
                "message_id": make_msgid(domain=domain),
                "context": {"link": f"{base_url}/desk/sign-in/{token}",
                            "minutes": LINK_MINUTES, "email": listed,
                            FORGET: ["link"]}}, now=now)  # only its hash stays once sent
        self.wake_outbox()

    async def link_page(self, request: web.Request) -> web.StreamResponse:
        """A link shows a button that signs in, rather than signing in itself: mail
        scanners that open every link must not spend it."""
        session = self.session_of(request) or anonymous()
        token = request.match_info["token"]
        async with self.runtime.db.transaction() as db_session:
            email = await repository.desk_sign_in_email(db_session, token_hash(token),
                                                        self.clock())
        if email is None or not may_decide(self.reviewer_for(email), self.facts()):
            return self.page(request, "link_invalid.j2", {}, session, status=403)
        return self.page(request, "link.j2", {"email": email}, session)

    async def link_use(self, request: web.Request) -> web.StreamResponse:
        session = self.session_of(request)
        form = await request.post()
        if session is None or not session.accepts(str(form.get("csrf") or "")):
            return self.page(request, "refused.j2", {}, session or anonymous(), status=403)
        async with self.runtime.db.transaction() as db_session:
            email = await repository.desk_use_sign_in(
                db_session, token_hash(request.match_info["token"]), self.clock())
        if email is None or not may_decide(self.reviewer_for(email), self.facts()):
            log_event(log, "desk sign-in refused", logging.WARNING, channel=CHANNEL,
                      outcome="link used, expired or unknown")
            return self.page(request, "link_invalid.j2", {}, session, status=403)
        log_event(log, "desk signed in", channel=CHANNEL, actor=email)
        return self.redirect("/desk/", session.signed_in_as(email))

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        session = self.session_of(request)
        form = await request.post()
        if session is None or not session.accepts(str(form.get("csrf") or "")):
            return self.page(request, "refused.j2", {}, session or anonymous(), status=403)
        return self.redirect("/desk/sign-in", anonymous())

    # -- reading -------------------------------------------------------------------------

    async def list_page(self, request: web.Request, session: DeskSession,
                        reviewer: Reviewer) -> web.StreamResponse:
        status = request.query.get("status", "")
        status = status if status in {s.value for s in Status} else ""
        search = request.query.get("q", "").strip()[:200]
        async with self.runtime.db.transaction() as db_session:
            lines = await repository.desk_submissions(db_session, status=status or None,
                                                      search=search or None)
        now = self.clock()
        rows = [{"line": line, "age": age(line.created_at, now)} for line in lines]
        return self.page(request, "list.j2", {"rows": rows, "status": status,
                                              "search": search}, session)

    async def submission_page(self, request: web.Request, session: DeskSession,
                              reviewer: Reviewer, *, refused: str | None = None,
                              status: int = 200) -> web.StreamResponse:
        reference = request.match_info["reference"]
        async with self.runtime.db.transaction() as db_session:
            details = await repository.desk_details(db_session, reference)
            if details is None:
                return self.page(request, "not_found.j2", {"reference": reference},
                                 session, status=404)
            submission = details["submission"]
            inbound = await repository.desk_inbound(db_session, submission.channel,
                                                    submission.contributor_id)
        cards = details["cards"]
        wanted = request.query.get("card", "")
        shown = next((c for c in cards if str(c.id) == wanted), None) or next(
            (c for c in cards if c.id == submission.card_version_id), None) or (
            cards[-1] if cards else None)
        card = report = None
        if shown is not None:
            rendered = render_card(bytes(shown.content))
            card = {"version": shown, "front_matter": rendered.front_matter,
                    "html": Markup(rendered.html)}  # noqa: S704 - escaped by markdown-it
            if shown.report:
                report = {"verdict": shown.report.get("verdict"),
                          "text": render_report(CardReport.from_dict(shown.report),
                                                self.runtime.renderer, "text")}
        messages = [{"row": m, "text": self.message_text(m.payload)}
                    for m in details["messages"]]
        conversation = sorted(
            [Line(_aware(e.received_at), True,
                  inbound_text(submission.channel, e, self.settings.submit_address), e.status)
             for e in inbound]
            + [Line(_aware(m["row"].created_at), False, m["text"], m["row"].status,
                    m["row"].id) for m in messages
               if (m["row"].channel, m["row"].recipient) == (submission.channel,
                                                             submission.contributor_id)],
            key=lambda line: line.at)
        return self.page(request, "submission.j2", {
            "s": submission, "cards": cards, "card": card, "report": report,
            "history": details["history"], "messages": messages,
            "conversation": conversation,
            "undelivered": [m for m in messages if m["row"].status in (*WAITING, "dead")],
            "decided": request.query.get("decided", ""), "refused": refused,
            "open": submission.status in OPEN, "age": age(submission.created_at,
                                                          self.clock()),
        }, session, status=status)

    def message_text(self, payload: dict[str, Any]) -> str:
        """What a message says, as plain text (a kind of our own when it has no words)."""
        try:
            if payload.get("parts"):
                return render_reply(self.runtime.renderer, payload, "text")
            if payload.get("kind") == STANDALONE:
                return str(payload.get("template") or "")
            return " ".join(str(payload.get(key)) for key in ("kind", "status", "by", "text")
                            if payload.get(key))
        except Exception:  # noqa: BLE001 - a message that cannot be shown is not a 500
            return "(this message cannot be shown)"

    async def card_download(self, request: web.Request, session: DeskSession,
                            reviewer: Reviewer) -> web.StreamResponse:
        reference = request.match_info["reference"]
        async with self.runtime.db.transaction() as db_session:
            found = await repository.desk_card(db_session, reference,
                                               int(request.match_info["version"]))
        if found is None:
            return self.page(request, "not_found.j2", {"reference": reference}, session,
                             status=404)
        filename, content = found
        safe = _SAFE_FILENAME.sub("_", filename).strip("._") or "card.md"
        return web.Response(body=content, headers={
            **SECURITY_HEADERS, "Content-Type": "text/markdown; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{reference}-{safe}"'})

    # -- deciding ------------------------------------------------------------------------

    async def decision(self, request: web.Request, session: DeskSession,
                       reviewer: Reviewer) -> web.StreamResponse:
        """One of the four decisions, judged and applied by the core in one transaction."""
        reference = request.match_info["reference"]
        form = await request.post()
        try:
            decision = Decision(str(form.get("decision") or ""))
        except ValueError:
            return await self.submission_page(request, session, reviewer,
                                              refused="No such decision.", status=400)
        text = str(form.get("text") or "")[:4000]
        async with self.runtime.db.transaction() as db_session:
            result = await self.runtime.desk.decide_in(db_session, reference, reviewer,
                                                       decision, text, facts=self.facts())
        if result.applied:
            self.wake_outbox()
            return self.redirect(f"/desk/submissions/{reference}?decided={decision}")
        assert result.refused is not None
        why = self.runtime.renderer.render(result.refused, {
            "reference": reference, "status": result.status,
            "decided_by": result.decided_by})
        code = 404 if result.refused == "review_refused_unknown" else (
            403 if result.refused in ("review_refused_not_reviewer",
                                      "review_refused_own_submission") else 409)
        if code == 404:
            return self.page(request, "not_found.j2", {"reference": reference}, session,
                             status=404)
        return await self.submission_page(request, session, reviewer, refused=why,
                                          status=code)
