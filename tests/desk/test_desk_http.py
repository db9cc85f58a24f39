"""The review desk over plain HTTP: sign-in links, sessions, CSRF, and who may decide.

The service runs for real on loopback (inbox, web adapter, workers, SMTP sink); the
client is aiohttp's, with its own cookie jar, like a browser without JavaScript.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from core.storage.database import Database
from core.storage.models import OutboxMessage, ReviewerSignIn
from desk.auth import COOKIE, DeskSession, Sessions
from tests.desk.conftest import (
    ADA,
    OTTO,
    RITA,
    Desk,
    csrf_of,
    sign_in,
    start_desk,
    stop_desk,
)
from tests.mail.conftest import CARD, Sink, eventually

SECRET = "test-secret-" + "x" * 20


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with browser() as session:
        yield session


def browser() -> aiohttp.ClientSession:
    """A client that keeps cookies of 127.0.0.1 (aiohttp's default jar refuses IPs)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def decide(desk: Desk, client: aiohttp.ClientSession, decision: str, text: str = "",
                 csrf: str | None = None) -> tuple[int, str, str]:
    """POST a decision (with the CSRF token of the submission page unless one is given);
    (status, Location, page)."""
    if csrf is None:
        async with client.get(f"{desk.base}/desk/submissions/OTDI-0001") as response:
            csrf = csrf_of(await response.text())
    data = {"decision": decision, "text": text, **({"csrf": csrf} if csrf else {})}
    async with client.post(f"{desk.base}/desk/submissions/OTDI-0001/decision", data=data,
                           allow_redirects=False) as response:
        return response.status, response.headers.get("Location", ""), await response.text()


async def test_nothing_is_shown_or_decided_without_sign_in(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    await desk.submit()
    card_id = (await desk.submission()).card_version_id
    for path in ("/desk/", "/desk/submissions/OTDI-0001",
                 f"/desk/submissions/OTDI-0001/cards/{card_id}", "/desk/?q=Ocean"):
        async with client.get(desk.base + path, allow_redirects=False) as response:
            assert response.status == 303, path
            assert response.headers["Location"] == "/desk/sign-in"
            assert b"Ocean" not in await response.read()
    async with client.get(desk.base + "/") as response:  # the front page is the desk's
        assert response.status == 200
        assert str(response.url).endswith("/desk/sign-in")
        assert "Sign in to the review desk" in await response.text()
    async with client.get(f"{desk.base}/desk/sign-in") as response:
        csrf = csrf_of(await response.text())  # an anonymous session has a token too
    status, _, _ = await decide(desk, client, "approve", csrf=csrf)
    assert status == 403
    assert (await desk.submission()).status == "in_review"
    assert await desk.decisions() == []


async def test_every_post_needs_the_sessions_csrf_token(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    await desk.submit()
    await sign_in(desk, client)
    async with browser() as other, other.get(f"{desk.base}/desk/sign-in") as response:
        foreign = csrf_of(await response.text())  # someone else's page has its own token

    for csrf in ("", "forged", foreign):
        status, _, page = await decide(desk, client, "reject", "not for us", csrf=csrf)
        assert status == 403, csrf
        assert "This form was not accepted" in page
    assert (await desk.submission()).status == "in_review"
    assert await desk.decisions() == []
    async with client.post(f"{desk.base}/desk/sign-out", allow_redirects=False) as response:
        assert response.status == 403  # signing out is a POST like any other
    async with client.get(f"{desk.base}/desk/", allow_redirects=False) as response:
        assert response.status == 200  # still signed in

    status, location, _ = await decide(desk, client, "changes",
                                       "Please name the licence holder.")
    assert status == 303
    assert location == "/desk/submissions/OTDI-0001?decided=changes"
    assert (await desk.submission()).status == "changes_requested"
    assert await desk.decisions() == [("review.changes", RITA, "desk")]
    told = (await desk.sink.wait_for(ADA, 3))[2]
    assert "Please name the licence holder." in told.body


async def test_an_address_that_may_not_review_gets_the_same_answer_and_no_mail(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    answers = {}
    for address in ("mallory@example.net", RITA, "rita@alliance.test.evil.example"):
        async with client.get(f"{desk.base}/desk/sign-in") as response:
            csrf = csrf_of(await response.text())
        async with client.post(f"{desk.base}/desk/sign-in",
                               data={"csrf": csrf, "email": address}) as response:
            assert response.status == 200
            answers[address] = (await response.text()).replace(address, "ADDRESS")
    assert len(set(answers.values())) == 1  # nothing tells a reviewer from a stranger
    await desk.link_for(RITA)
    await desk.intake.settle()
    assert await desk.mail_to("mallory@example.net") == []
    assert await desk.mail_to("rita@alliance.test.evil.example") == []
    async with desk.db.transaction() as session:
        assert await session.scalar(select(func.count(ReviewerSignIn.id))) == 1
        stored = await session.scalar(select(ReviewerSignIn.token_hash))
    link = await desk.link_for(RITA)
    assert stored not in link and link.rsplit("/", 1)[1] not in stored  # only a hash


async def test_a_sign_in_request_without_the_forms_token_sends_nothing(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    async with client.post(f"{desk.base}/desk/sign-in", data={"email": RITA}) as response:
        assert response.status == 403
    await desk.intake.settle()
    assert await desk.mail_to(RITA) == []


async def test_links_work_once_and_expire(desk: Desk, client: aiohttp.ClientSession) -> None:
    await sign_in(desk, client, OTTO)  # listed as Otto@Alliance.test
    async with client.get(f"{desk.base}/desk/") as response:
        assert "Signed in as otto@alliance.test" in await response.text()
    link = await desk.link_for(OTTO)
    token = link.rsplit("/", 1)[1]

    async def link_forgotten() -> bool:  # once sent, only the link's hash is kept
        async with desk.db.transaction() as session:
            rows = (await session.scalars(select(OutboxMessage))).all()
        return bool(rows) and all(token not in str(row.payload) for row in rows)

    await eventually(link_forgotten)

    async with browser() as again:  # the same link, used a second time
        async with again.get(link) as response:
            assert response.status == 403
            assert "This sign-in link is not valid" in await response.text()
        async with again.get(f"{desk.base}/desk/sign-in") as response:
            csrf = csrf_of(await response.text())
        async with again.post(link, data={"csrf": csrf}, allow_redirects=False) as response:
            assert response.status == 403
        async with again.post(link[:-4] + "AAAA", data={"csrf": csrf}) as response:
            assert response.status == 403  # a forged one
        async with again.get(f"{desk.base}/desk/", allow_redirects=False) as response:
            assert response.status == 303

    # A link not used within its minutes is refused.
    async with browser() as late:
        async with late.get(f"{desk.base}/desk/sign-in") as response:
            csrf = csrf_of(await response.text())
        async with late.post(f"{desk.base}/desk/sign-in",
                             data={"csrf": csrf, "email": RITA}) as response:
            assert response.status == 200
        second = await desk.link_for(RITA)
        service = desk.intake.runtime.service
        real = service.clock
        service.clock = lambda: real() + timedelta(minutes=16)
        try:
            async with late.get(second) as response:
                assert response.status == 403
        finally:
            service.clock = real
        async with late.get(second) as response:  # still unused, and in time again
            assert response.status == 200


async def test_who_may_decide_is_the_cores_rule(db: Database, sink: Sink,
                                               client: aiohttp.ClientSession) -> None:
    """The contributor listed as a reviewer may not decide their own submission; a
    session of an address that is not (or no longer) listed decides nothing."""
    desk = await start_desk(db, sink, INTAKE_REVIEW_EMAILS=f"{RITA}, {ADA}")
    try:
        await desk.submit()
        await sign_in(desk, client, ADA)
        async with client.get(f"{desk.base}/desk/submissions/OTDI-0001") as page:
            assert page.status == 200  # Ada may read as a reviewer ...
        status, _, answer = await decide(desk, client, "approve")
        assert status == 403  # ... but not decide on her own submission
        assert "You contributed this dataset, so you cannot review it yourself" in answer

        sessions = Sessions(SECRET, secure=False)
        listed = sessions.dump(DeskSession(csrf="c" * 32, email=RITA))
        async with aiohttp.ClientSession(cookies={COOKIE: listed}) as rita, \
                rita.get(f"{desk.base}/desk/", allow_redirects=False) as answer:
            assert answer.status == 200  # such a cookie is read, and RITA is listed
        stale = sessions.dump(DeskSession(csrf="c" * 32, email="mallory@example.net"))
        async with aiohttp.ClientSession(cookies={COOKIE: stale}) as mallory:
            async with mallory.get(f"{desk.base}/desk/", allow_redirects=False) as answer:
                assert answer.status == 303
            async with mallory.post(
                    f"{desk.base}/desk/submissions/OTDI-0001/decision",
                    data={"csrf": "c" * 32, "decision": "approve"}) as answer:
                assert answer.status == 403
        assert (await desk.submission()).status == "in_review"
        assert await desk.decisions() == []
    finally:
        await stop_desk(desk)


async def test_the_card_is_shown_escaped_and_downloaded_as_it_came(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    await desk.submit()
    await sign_in(desk, client)
    card_id = (await desk.submission()).card_version_id
    async with client.get(f"{desk.base}/desk/submissions/OTDI-0001") as response:
        page = await response.text()
        assert "script-src" not in response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert "<h1>" in page and "Dataset card check for README.md: PASSES" in page
    assert "<script" not in page
    # Both halves of the conversation, in order: Ada's e-mail, our answer, her "yes", ...
    conversation = page[page.index('id="conversation"'):page.index('id="messages"')]
    said = ["Subject: A dataset", "Dataset name: Ocean Temperatures",
            "[attached: README.md]", "intake (#1, sent)", "<pre>Subject: Re: ", "yes",
            "submitted as OTDI-0001"]
    at = 0
    for text in said:  # each after the one before
        at = conversation.find(text, at)
        assert at != -1, (text, conversation)
    async with client.get(f"{desk.base}/desk/submissions/OTDI-0001/cards/{card_id}") as got:
        assert got.status == 200
        assert await got.read() == CARD
        assert got.headers["Content-Disposition"] == \
            'attachment; filename="OTDI-0001-README.md"'
        assert got.headers["X-Content-Type-Options"] == "nosniff"
    async with client.get(f"{desk.base}/desk/submissions/OTDI-0001/cards/{card_id + 99}") as got:
        assert got.status == 404


async def test_ask_then_approve_once_and_the_sign_in_mail(
        desk: Desk, client: aiohttp.ClientSession) -> None:
    await desk.submit()
    await sign_in(desk, client)
    [mail] = desk.sign_in_mails(RITA)
    assert mail["Subject"] == "[OTDI] Your sign-in link for the review desk"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "works once, for 15 minutes" in mail.body

    status, _, page = await decide(desk, client, "ask")
    assert status == 409 and "Please add a text" in page  # the core's rule: ask needs one
    status, location, _ = await decide(desk, client, "ask", "Who collected the data?")
    assert (status, location) == (303, "/desk/submissions/OTDI-0001?decided=ask")
    assert (await desk.submission()).status == "in_review"  # a question changes nothing
    assert "Who collected the data?" in (await desk.sink.wait_for(ADA, 3))[2].body

    async with client.get(f"{desk.base}/desk/submissions/OTDI-0001") as response:
        csrf = csrf_of(await response.text())
    first, second = [await decide(desk, client, "approve", csrf=csrf) for _ in range(2)]
    assert first[0] == 303
    assert second[0] == 409  # the second click: already decided, nothing doubled
    assert "OTDI-0001 is already approved (by rita@alliance.test)" in second[2]
    assert (await desk.submission()).status == "approved"
    assert await desk.decisions() == [("review.ask", RITA, "desk"),
                                      ("review.approve", RITA, "desk")]
    assert "is approved" in (await desk.sink.wait_for(ADA, 4))[3].body
    async with client.get(f"{desk.base}/desk/?status=approved") as response:
        assert "OTDI-0001" in await response.text()
    async with client.get(f"{desk.base}/desk/?status=in_review") as response:
        assert "OTDI-0001" not in await response.text()
