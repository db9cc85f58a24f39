"""The web adapter: health, metrics, running without Slack, and Socket Mode."""

from __future__ import annotations

import aiohttp

from bot.adapter import WebAdapter
from core.runtime import build_runtime
from core.settings import Settings
from core.storage.database import Database
from tests.bot.conftest import ADA, SlackHarness, eventually, running, slack_settings
from tests.fake_slack import FakeSlack


async def get(url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, response.content_type, await response.text()


async def test_health_and_metrics(slack: SlackHarness) -> None:
    status, kind, body = await get(slack.base_url + "/healthz")
    assert (status, kind) == (200, "application/json")
    assert '"database": "ok"' in body and '"slack": "http"' in body

    await slack.say(ADA, "hello", "name of the dataset")
    await slack.sender.event(slack.sender.dm(ADA, "x"), secret="forged")
    await eventually(slack.all_delivered)
    status, kind, body = await get(slack.base_url + "/metrics")
    assert (status, kind) == (200, "text/plain")
    for line in ('intake_slack_requests_total{status="200"} 1',
                 'intake_slack_requests_total{status="401"} 1',
                 'intake_slack_events_total{kind="message"} 1',
                 'intake_slack_deliveries_total{result="ok"} 1',
                 'intake_outbox_depth{channel="slack"} 0.0',
                 "# TYPE intake_outbox_depth gauge"):
        assert line in body


async def test_without_slack_only_health_answers(db: Database) -> None:
    runtime = build_runtime(Settings(_env_file=None, INTAKE_DATABASE_URL=db.url,
                                     INTAKE_HTTP_PORT=0), db)
    adapter = WebAdapter()
    assert adapter.enabled(runtime)
    await adapter.start(runtime)
    try:
        base = f"http://127.0.0.1:{adapter.port}"
        assert (await get(base + "/healthz"))[0] == 200
        assert '"slack": "off"' in (await get(base + "/healthz"))[2]
        async with aiohttp.ClientSession() as session, \
                session.post(base + "/slack/events", data=b"{}") as response:
            assert response.status == 404
            assert await response.json() == {"ok": False, "error": "slack_not_configured"}
        assert "slack" not in runtime.deliverers
    finally:
        await adapter.stop()


async def test_health_fails_when_the_database_does_not_answer(tmp_path: object) -> None:
    broken = Database("sqlite+aiosqlite:////nonexistent-dir/for/sure/intake.db")
    runtime = build_runtime(Settings(_env_file=None, INTAKE_DATABASE_URL=broken.url,
                                     INTAKE_HTTP_PORT=0), broken)
    adapter = WebAdapter()
    await adapter.start(runtime)
    try:
        status, _, body = await get(f"http://127.0.0.1:{adapter.port}/healthz")
        assert status == 503 and "unreachable" in body
    finally:
        await adapter.stop()
        await broken.dispose()


async def test_socket_mode(db: Database, fake: FakeSlack) -> None:
    settings = slack_settings(db, fake, SLACK_APP_TOKEN="xapp-test", SLACK_SIGNING_SECRET=None)
    async with running(settings, db, fake) as harness:
        assert harness.adapter.mode == "socket"
        assert fake.calls_to("apps.connections.open")[0].token == "xapp-test"
        envelope = {"envelope_id": "env-1", "type": "events_api",
                    "accepts_response_payload": False,
                    "payload": harness.sender.envelope(harness.sender.dm(ADA, "hello"))}
        await fake.socket_send(envelope)
        await fake.wait_for_dm(ADA, "name of the dataset")
        assert any(ack.get("envelope_id") == "env-1" for ack in fake.socket_acks)
        status, _, body = await get(harness.base_url + "/healthz")
        assert status == 200 and '"slack": "socket"' in body


async def test_stopping_finishes_what_was_acknowledged(db: Database, fake: FakeSlack) -> None:
    fake.slow("users.info", 0.5)
    async with running(slack_settings(db, fake), db, fake) as harness:
        assert (await harness.sender.event(harness.sender.dm(ADA, "hello"))).status == 200
        await harness.adapter.stop()  # while the event is still being processed
        [reply] = await harness.outbox()
        assert reply.recipient == ADA  # queued: the worker of the next start delivers it
