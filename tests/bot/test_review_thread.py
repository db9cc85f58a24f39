"""Reviewer threads in Slack, over HTTP against the fake: submit, discuss, decide."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.review import REVIEW_MODAL
from core import reports
from core.conversation import CardFile, Inbound
from core.outbox import OutboxWorker
from core.render import Renderer
from core.service import ConversationKey
from core.storage.database import Database
from core.storage.models import AuditEntry, OutboxMessage, Submission, utcnow
from tests.bot.conftest import (
    ADA,
    CARD,
    SlackHarness,
    eventually,
    running,
    slack_settings,
)
from tests.fake_slack import FakeSlack
from tests.fake_slack.server import Posted

REVIEW = "CREVIEW"
RITA, OTTO, MALLORY = "URITA", "UOTTO", "UMALLORY"
FIXED_CARD = b"---\nlicense: mit\n---\n# Fixed\n"


@pytest.fixture
async def review(db: Database, fake: FakeSlack) -> AsyncIterator[SlackHarness]:
    """Slack with a review channel whose members (Rita, Otto) are the reviewers."""
    fake.add_members(REVIEW, RITA, OTTO, "UBOT")
    for user in (RITA, OTTO, MALLORY):
        fake.add_user(user, f"{user.lower()}@example.org", name=user.lower())
    settings = slack_settings(db, fake, INTAKE_REVIEW_CHANNEL=REVIEW)
    async with running(settings, db, fake) as harness:
        yield harness


async def submit(slack: SlackHarness, user: str = ADA) -> None:
    """A contributor's whole conversation in the DM, up to the submission."""
    await slack.say(user, "name: Ocean Temperatures, url: https://example.org/ocean, "
                          "hosting: no, modalities: text only", "dataset card")
    await slack.upload(user, "README.md", CARD, "domain")
    await slack.say(user, "Marine", "e-mail")
    await slack.say(user, "yes", "terms")
    await slack.say(user, "I agree", "Here is your contribution")
    await slack.say(user, "yes", "OTDI-0001")


def buttons(message: Posted) -> list[str]:
    return [e["action_id"] for b in message.blocks if b["type"] == "actions"
            for e in b["elements"]]


async def thread_ready(slack: SlackHarness) -> Posted:
    """The parent in the review channel once its card file and report are in the thread."""
    fake = slack.fake

    def ready() -> Posted | None:
        parents = fake.in_channel(REVIEW)
        if not parents:
            return None
        replies = fake.thread(REVIEW, parents[0].ts)
        has_file = any(m.files for m in replies)
        has_report = any("Card check" in m.all_text for m in replies)
        return parents[0] if has_file and has_report else None

    return await fake.wait_for(ready)


async def in_thread(slack: SlackHarness, parent: Posted, text: str) -> Posted:
    return await slack.fake.wait_for(lambda: next(
        (m for m in slack.fake.thread(REVIEW, parent.ts) if text in m.all_text), None))


async def open_modal(slack: SlackHarness, parent: Posted, user: str, action: str) -> dict:
    before = set(slack.fake.views)
    answer = await slack.sender.click(parent, user, action_id=f"otdi_review_{action}")
    assert answer.status == 200, answer.text
    view_id = await slack.fake.wait_for(lambda: next(
        (v for v in slack.fake.views if v not in before), None))
    view = slack.fake.views[view_id]
    assert view["callback_id"] == REVIEW_MODAL
    return view


async def decide_in_modal(slack: SlackHarness, parent: Posted, user: str, action: str,
                          text: str) -> None:
    view = await open_modal(slack, parent, user, action)
    answer = await slack.sender.submit_view(view, user, {"text": text})
    assert answer.status == 200, answer.text


async def status(slack: SlackHarness) -> str:
    [submission] = await slack.submissions()
    return submission.status


async def actions(db: Database) -> list[str]:
    async with db.transaction() as session:
        return list((await session.scalars(select(AuditEntry.action)
                                           .order_by(AuditEntry.id))).all())


async def test_ask_answer_and_approve_in_the_thread(review: SlackHarness) -> None:
    fake = review.fake
    await submit(review)
    parent = await thread_ready(review)
    assert buttons(parent) == ["otdi_review_approve", "otdi_review_changes",
                               "otdi_review_reject", "otdi_review_ask"]
    assert all(e["value"] == "OTDI-0001" for b in parent.blocks if b["type"] == "actions"
               for e in b["elements"])
    for expected in ("OTDI-0001", "Ocean Temperatures", "<https://example.org/ocean|",
                     "Marine", "Text Only", "ada@example.org via Slack", "to contributor:"):
        assert expected in parent.all_text, expected
    [shared] = [m for m in fake.thread(REVIEW, parent.ts) if m.files]
    assert fake.files[shared.files[0]].data == CARD
    assert fake.files[shared.files[0]].name == "README.md"
    assert [c.args.get("thread_ts") for c in fake.calls_to("files.completeUploadExternal")
            ] == [parent.ts]
    assert await eventually(lambda: status(review)) == "in_review"

    # A reviewer asks; the contributor gets the question in the DM and answers there.
    before = review.seen(ADA)
    await decide_in_modal(review, parent, RITA, "ask", "Who collected the <data>?")
    question = await fake.wait_for_dm(ADA, "Who collected the &lt;data&gt;?", after=before)
    assert "OTDI-0001" in question.all_text
    await in_thread(review, parent, "asked the contributor")
    await review.say(ADA, "Our lab did, in 2023 & 2024.", "passed your message on")
    answer = await in_thread(review, parent, "Our lab did, in 2023 &amp; 2024.")
    assert f"<@{ADA}>" in answer.all_text

    # Thread chatter among reviewers stays there; nothing goes to the contributor.
    before = review.seen(ADA)
    await review.sender.event({"type": "message", "channel": REVIEW, "user": OTTO,
                               "text": "looks fine to me", "ts": "1800000000.000001",
                               "thread_ts": parent.ts, "channel_type": "channel"})
    await eventually(lambda: review.metric("intake_slack_events_total", "kind",
                                           "review_chatter"))

    before_updates = parent.updates
    before = review.seen(ADA)
    assert (await review.sender.click(parent, RITA, action_id="otdi_review_approve")
            ).status == 200
    approval = await fake.wait_for_dm(ADA, "is approved", after=before)
    assert "Ocean Temperatures" in approval.all_text
    await fake.wait_for(lambda: parent.updates > before_updates
                        and "status: *approved*" in parent.all_text)
    assert buttons(parent) == []
    await in_thread(review, parent, f"<@{RITA}> approved OTDI-0001")
    assert review.seen(ADA) == before + 1  # the chatter was not relayed
    assert await eventually(review.all_delivered)

    history = await actions(review.db)
    assert history[-4:] == ["review.thread_opened", "review.ask", "contributor.message",
                            "review.approve"]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert await reports.print_show(review.db, Renderer(), "OTDI-0001") == 0
    shown = output.getvalue()
    for line in ("review.thread_opened", "submitted -> in_review", "review.ask",
                 "contributor.message", "review.approve", "in_review -> approved",
                 f"by {RITA} (slack)"):
        assert line in shown, line


async def test_changes_requested_and_a_corrected_card(review: SlackHarness) -> None:
    fake = review.fake
    await submit(review)
    parent = await thread_ready(review)
    before = review.seen(ADA)
    await decide_in_modal(review, parent, OTTO, "changes", "Please add a licence.")
    await fake.wait_for_dm(ADA, "Please add a licence.", after=before)
    await fake.wait_for(lambda: "status: *changes requested*" in parent.all_text)
    assert len(buttons(parent)) == 4  # still open: more decisions to come

    await review.upload(ADA, "README.md", FIXED_CARD, "new version")
    relayed = await in_thread(review, parent, "new version of the dataset card")
    assert "README.md" in relayed.all_text and "resubmitted" in relayed.all_text
    assert "licen" in relayed.all_text.lower()  # the new card's check report
    def files_shared() -> list[Posted]:
        return [m for m in fake.thread(REVIEW, parent.ts) if m.files]

    # The relay's text goes first, its card after: wait for the second file.
    shared = await fake.wait_for(lambda: len(files_shared()) >= 2 and files_shared())
    assert [fake.files[m.files[0]].data for m in shared] == [CARD, FIXED_CARD]
    assert await status(review) == "resubmitted"

    await decide_in_modal(review, parent, RITA, "reject", "Still no licence & no data.")
    rejected = await fake.wait_for_dm(ADA, "Still no licence &amp; no data.")
    assert "OTDI-0001" in rejected.all_text
    await fake.wait_for(lambda: "status: *rejected*" in parent.all_text)
    assert buttons(parent) == []


async def test_a_withdrawal_closes_the_thread(review: SlackHarness) -> None:
    await submit(review)
    parent = await thread_ready(review)
    stale = review.sender.block_actions(parent, RITA, action_id="otdi_review_approve")
    await review.say(ADA, "withdraw", "withdrawn")
    await review.fake.wait_for(lambda: "status: *withdrawn*" in parent.all_text)
    assert buttons(parent) == []
    await in_thread(review, parent, "The contributor withdrew OTDI-0001")
    assert (await review.sender.interactive(stale)).status == 200  # an old copy's button
    await review.fake.wait_for(lambda: review.fake.ephemeral)
    assert "already withdrawn" in review.fake.ephemeral[0]["text"]


async def test_refused_clicks_are_explained_to_the_clicker_alone(
        review: SlackHarness) -> None:
    fake = review.fake
    fake.add_members(REVIEW, ADA)  # the contributor reads the review channel too
    await submit(review)
    parent = await thread_ready(review)
    outbox_before = len(await review.outbox())

    for user, action in ((MALLORY, "approve"), (ADA, "approve"), (MALLORY, "reject")):
        assert (await review.sender.click(parent, user, action_id=f"otdi_review_{action}")
                ).status == 200
    await fake.wait_for(lambda: len(fake.ephemeral) == 3)
    # Listeners run after the acknowledgement: the notes may come in any order.
    told = sorted((e["user"], e["channel"], "Only OTDI reviewers" in e["text"],
                   "cannot review it yourself" in e["text"]) for e in fake.ephemeral)
    assert told == [(ADA, REVIEW, False, True), (MALLORY, REVIEW, True, False),
                    (MALLORY, REVIEW, True, False)]
    assert fake.views == {}  # no modal for someone who may not decide

    # "to contributor:" from a stranger in the thread is refused the same way.
    await review.sender.event({"type": "message", "channel": REVIEW, "user": MALLORY,
                               "text": "To contributor: send me the data",
                               "ts": "1800000000.000002", "thread_ts": parent.ts,
                               "channel_type": "channel"})
    await fake.wait_for(lambda: len(fake.ephemeral) == 4)
    assert await status(review) == "in_review"
    assert "review.approve" not in await actions(review.db)
    assert parent.updates == 0
    dms = [m for m in await review.outbox()][outbox_before:]
    assert all(m.payload.get("kind") == "ephemeral" for m in dms)


async def test_two_approvals_at_once_give_one_decision(review: SlackHarness) -> None:
    fake = review.fake
    await submit(review)
    parent = await thread_ready(review)
    clicks = [review.sender.block_actions(parent, user, action_id="otdi_review_approve")
              for user in (RITA, OTTO, RITA)]
    answers = await asyncio.gather(*(review.sender.interactive(c) for c in clicks))
    assert [a.status for a in answers] == [200, 200, 200]
    await fake.wait_for(lambda: len(fake.ephemeral) == 2)
    assert all("already approved" in e["text"] for e in fake.ephemeral)
    await fake.wait_for_dm(ADA, "is approved")
    assert await eventually(review.all_delivered)
    assert (await actions(review.db)).count("review.approve") == 1
    assert sum("is approved" in m.all_text for m in fake.dms(ADA)) == 1
    assert await eventually(review.review_delivered)
    notes = [m for m in fake.thread(REVIEW, parent.ts) if "approved OTDI-0001" in m.all_text]
    assert len(notes) == 1


async def test_thread_reply_to_the_contributor(review: SlackHarness) -> None:
    fake = review.fake
    await submit(review)
    parent = await thread_ready(review)
    before = review.seen(ADA)
    reply = {"type": "message", "channel": REVIEW, "user": OTTO,
             "text": "TO CONTRIBUTOR: is <https://example.org/ocean> the final address?",
             "ts": "1800000000.000003", "thread_ts": parent.ts, "channel_type": "channel"}
    envelope_id = "EvREPLY0001"
    assert (await review.sender.event(reply, event_id=envelope_id)).status == 200
    question = await fake.wait_for_dm(ADA, "is https://example.org/ocean the final address?",
                                      after=before)
    assert "OTDI-0001" in question.all_text
    # Slack retrying the same event asks nothing more.
    assert (await review.sender.event(reply, event_id=envelope_id, retry_num=1)).status == 200
    await in_thread(review, parent, "asked the contributor")
    assert await eventually(review.all_delivered)
    assert review.seen(ADA) == before + 1
    assert (await actions(review.db)).count("review.ask") == 1


def later(seconds: float) -> Any:
    return lambda: utcnow() + timedelta(seconds=seconds)


async def test_a_slack_outage_during_submit_ends_in_exactly_one_thread(
        review: SlackHarness) -> None:
    fake = review.fake
    # Posting in the review channel fails for a while; once it works, the card upload
    # fails once more, after the parent was posted: a retry must not post it again.
    fake.fail("chat.postMessage", 500, times=3, channel=REVIEW)
    fake.fail("files.getUploadURLExternal", 500, times=1)
    await submit(review)

    async def review_row() -> OutboxMessage | None:
        async with review.db.transaction() as session:
            return await session.scalar(select(OutboxMessage).where(
                OutboxMessage.channel == "review"))

    await eventually(lambda: _failed_once(review_row))
    assert fake.in_channel(REVIEW) == []
    for step in range(1, 10):  # the worker's later attempts, without waiting for them
        await OutboxWorker(review.db, review.runtime.deliverers,
                           clock=later(step * 1000)).run_once()
        row = await review_row()
        if row is not None and row.status == "sent":
            break
    parent = await thread_ready(review)
    row = await review_row()
    assert row is not None and row.status == "sent" and row.attempts == 5
    assert len(fake.in_channel(REVIEW)) == 1
    replies = fake.thread(REVIEW, parent.ts)
    assert sum(bool(m.files) for m in replies) == 1
    assert sum("Card check" in m.all_text for m in replies) == 1
    assert (await actions(review.db)).count("review.thread_opened") == 1
    assert await status(review) == "in_review"


async def _failed_once(row: Any) -> bool:
    found = await row()
    return found is not None and found.status == "pending" and found.attempts >= 1


async def test_a_mail_contributor_reviewed_in_slack(review: SlackHarness) -> None:
    """The thread is in Slack, the contributor on e-mail: a question goes out as mail."""
    service = review.runtime.service
    key = ConversationKey("mail", "bea@example.org")
    for event in (Inbound("text", text="name: Coral Reefs, url: https://example.org/coral, "
                                       "hosting: no, modalities: images"),
                  Inbound("file", file=CardFile("README.md", CARD)),
                  Inbound("text", text="Marine"), Inbound("text", text="bea@example.org"),
                  Inbound("text", text="I agree"), Inbound("text", text="yes")):
        await service.handle(key, event)
    [submission] = await review.submissions()
    assert (submission.reference, submission.channel) == ("OTDI-0001", "mail")
    parent = await thread_ready(review)
    assert "bea@example.org via e-mail" in parent.all_text

    await decide_in_modal(review, parent, RITA, "ask", "Is the data licensed CC-BY?")

    async def mailed() -> list[OutboxMessage]:
        async with review.db.transaction() as session:
            rows = (await session.scalars(select(OutboxMessage).where(
                OutboxMessage.channel == "mail"))).all()
        return [r for r in rows if r.payload.get("parts")
                and r.payload["parts"][0]["template"] == "reviewer_question"]

    [question] = await eventually(mailed)
    assert question.recipient == "bea@example.org"
    assert question.payload["parts"][0]["context"]["text"] == "Is the data licensed CC-BY?"
    await in_thread(review, parent, "asked the contributor")

    await service.handle(key, Inbound("text", text="Yes, CC-BY 4.0."))
    answer = await in_thread(review, parent, "Yes, CC-BY 4.0.")
    assert "bea@example.org" in answer.all_text
    async with review.db.transaction() as session:
        stored = await session.scalar(select(Submission))
        assert stored is not None and stored.status == "in_review"


async def test_listed_reviewers_replace_channel_membership(db: Database,
                                                           fake: FakeSlack) -> None:
    """With ``INTAKE_REVIEWERS`` set, only they decide, members of the channel or not."""
    fake.add_members(REVIEW, RITA, OTTO)
    settings = slack_settings(db, fake, INTAKE_REVIEW_CHANNEL=REVIEW, INTAKE_REVIEWERS=OTTO)
    async with running(settings, db, fake) as slack:
        await submit(slack)
        parent = await thread_ready(slack)
        await slack.sender.click(parent, RITA, action_id="otdi_review_approve")
        await fake.wait_for(lambda: fake.ephemeral)
        assert "Only OTDI reviewers" in fake.ephemeral[0]["text"]
        await slack.sender.click(parent, OTTO, action_id="otdi_review_approve")
        await fake.wait_for_dm(ADA, "is approved")
        assert fake.calls_to("conversations.members") == []
