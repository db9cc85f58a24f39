"""``intake web``: the HTTP server (Slack endpoint, health, metrics) and Socket Mode.

Registered as the ``web`` entry point of ``intake.adapters``. ``GET /healthz`` and
``GET /metrics`` always answer, Slack or not; ``POST /slack/events`` (events,
interactivity and slash commands share it) exists when Slack is configured for HTTP;
with ``SLACK_APP_TOKEN`` the same Bolt app is fed over Socket Mode instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import build_bolt_app
from bot.blocks import reply_message
from bot.delivery import SlackDeliverer, build_client
from bot.files import Downloader
from bot.handler import SlackHandler
from bot.intake import SlackIntake
from bot.modal import form_errors, form_view, read_form
from bot.profiles import ProfileEmails
from bot.review import ReviewThreads
from bot.texts import Texts
from core.fields import FIELD_ORDER
from core.metrics import Metrics
from core.render import render_reply
from core.runtime import Runtime
from core.settings import Settings
from core.startup import StartupError

log = logging.getLogger(__name__)
HEALTH_TIMEOUT = 3.0
VERIFY_TIMEOUT = 10.0  # seconds Slack may take to answer auth.test at start-up
# auth.test errors that mean the token itself is wrong (not an outage).
BAD_TOKEN = {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
             "token_expired", "not_allowed_token_type"}
STOP_GRACE = 10.0  # seconds to let events being processed finish before shutting down


def slack_mode(settings: Settings) -> str | None:
    """``http``, ``socket`` or None (Slack not configured)."""
    if not settings.slack_bot_token:
        return None
    if settings.slack_app_token:
        return "socket"
    return "http" if settings.slack_signing_secret else None


class SlackParts:
    """The Web API client, the Bolt app and the deliverer, built once per process."""

    def __init__(self, runtime: Runtime, metrics: Metrics) -> None:
        settings = runtime.settings
        assert settings.slack_bot_token
        self.client: AsyncWebClient = build_client(settings.slack_bot_token,
                                                   settings.slack_api_url)
        self.session = aiohttp.ClientSession()
        texts = Texts(runtime.renderer)
        api_host = (urlsplit(settings.slack_api_url).hostname or "").lower()

        async def file_info(file_id: str) -> dict[str, Any]:
            return dict((await self.client.files_info(file=file_id))["file"])

        downloader = Downloader(self.session, settings.slack_bot_token,
                                settings.max_card_bytes, {api_host}, file_info)
        profiles = ProfileEmails(self.client)
        self.intake = SlackIntake(runtime, self.client, texts, profiles, metrics)
        self.review: ReviewThreads | None = None
        if settings.review_channel:
            self.review = ReviewThreads(runtime, self.client, texts, metrics,
                                        settings.review_channel)
        self.handler = SlackHandler(texts, downloader, profiles, metrics,
                                    settings.max_card_bytes, self.review)
        self.app: AsyncApp = build_bolt_app(self.intake, self.client,
                                            settings.slack_signing_secret, self.review)
        self.deliverer = SlackDeliverer(self.client, texts, runtime.db, metrics)

    def warm_up(self) -> None:
        """Build a form and render a greeting once, before serving.

        The first use loads the OTDI spec, the field vocabularies and the e-mail
        validator and compiles the templates: ~0.2 s of CPU that would otherwise stall
        the event loop (and every acknowledgement waiting on it) at the first contributor.
        """
        texts = self.intake.texts
        answers = read_form(form_view(texts, state=None, suggested_email=None))
        answers.values.update(name="Warm-up", location="https://example.org/warm-up",
                              hosting="self", modalities="Text Only", domain="Marine",
                              email="warm-up@example.org")
        form_errors(answers, texts, 1)
        greeting = {"parts": [{"template": "welcome", "context": {"fields": list(FIELD_ORDER)}}]}
        reply_message(render_reply(texts.renderer, greeting, "slack", numbered_choices=False),
                      None, 0, texts)

    async def close(self) -> None:
        await self.session.close()


class WebAdapter:
    """The ``web`` adapter: aiohttp on ``INTAKE_HTTP_HOST:INTAKE_HTTP_PORT`` (port 0 works)."""

    name = "web"

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.runtime: Runtime | None = None
        self.slack: SlackParts | None = None
        self.mode: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._socket: AsyncSocketModeHandler | None = None

    def enabled(self, runtime: Runtime) -> bool:
        return True  # /healthz answers even without Slack

    def register(self, runtime: Runtime) -> None:
        """Slack's inbound handler (``runtime.handlers["slack"]``) and outbox deliverers
        (``slack``; ``review`` with ``INTAKE_REVIEW_CHANNEL``), also wanted by a
        worker-only process (``intake worker``)."""
        self.runtime = runtime
        self.metrics = runtime.metrics  # the process's one registry
        self.mode = slack_mode(runtime.settings)
        if self.mode is not None and self.slack is None:
            self.slack = SlackParts(runtime, self.metrics)
            self.slack.warm_up()
            runtime.deliverers["slack"] = self.slack.deliverer
            runtime.handlers["slack"] = self.slack.handler
            if self.slack.review is not None:  # the review threads live in Slack
                runtime.deliverers["review"] = self.slack.review
            runtime.extras["slack_app"] = self.slack.app  # for the reviewer-thread listeners
            runtime.extras["slack_client"] = self.slack.client

    async def verify(self, runtime: Runtime) -> None:
        """At start-up: Slack accepts ``SLACK_BOT_TOKEN`` (``auth.test``), else one clear
        line. An outage is only a warning: messages wait in the outbox until Slack is back."""
        settings = runtime.settings
        if slack_mode(settings) is None or not settings.slack_bot_token:
            return
        client = build_client(settings.slack_bot_token, settings.slack_api_url)
        try:
            await asyncio.wait_for(client.auth_test(), VERIFY_TIMEOUT)
        except SlackApiError as error:
            code = str(error.response.get("error") or "")
            if code in BAD_TOKEN:
                raise StartupError(
                    f"Slack refused SLACK_BOT_TOKEN ({code}); copy the Bot User OAuth Token "
                    "(xoxb-...) from the app's OAuth & Permissions page (reinstall the app if "
                    "it was revoked)") from None
            log.warning("Slack's auth.test failed (%s); going on: Slack messages wait in "
                        "the outbox", code or error.response.status_code)
        except Exception as error:  # noqa: BLE001 - an outage, not a wrong setting
            log.warning("cannot reach Slack to check SLACK_BOT_TOKEN (%s); going on: Slack "
                        "messages wait in the outbox", type(error).__name__)

    async def start(self, runtime: Runtime) -> None:
        self.register(runtime)
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        if self.slack is not None and self.mode == "http":
            app.router.add_post("/slack/events", self.slack_events)
        else:  # Slack's request URL check, or a misrouted app: say why, not a bare 404
            app.router.add_post("/slack/events", self.slack_off)
        parts = add_web_parts(app, runtime)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, runtime.settings.http_host, runtime.settings.http_port)
        await site.start()
        self.port = _bound_port(self._runner)
        for part in parts:
            started = getattr(part, "started", None)
            if callable(started):
                started()
        if self.slack is not None and self.mode == "socket":
            self._socket = AsyncSocketModeHandler(self.slack.app, runtime.settings.slack_app_token,
                                                  web_client=self.slack.client)
            await self._socket.connect_async()
        log.debug("web adapter on port %s (slack: %s)", self.port, self.mode or "off")

    async def stop(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()  # no new requests from here on
            self._runner = None
        if self.slack is not None:
            # Everything acknowledged is in the log, so nothing is lost by stopping; the
            # events being processed are let finish (for a while) before the client goes.
            if self.runtime is not None:
                try:
                    await self.runtime.events.wait_idle(STOP_GRACE)
                except TimeoutError:
                    log.warning("stopping with Slack events still being processed; "
                                "the next start does them")
            await self.slack.close()
            if self.runtime is not None and \
                    self.runtime.handlers.get("slack") is self.slack.handler:
                del self.runtime.handlers["slack"]
            if self.runtime is not None and \
                    self.runtime.deliverers.get("slack") is self.slack.deliverer:
                del self.runtime.deliverers["slack"]
            if self.runtime is not None and self.slack.review is not None and \
                    self.runtime.deliverers.get("review") is self.slack.review:
                del self.runtime.deliverers["review"]
            self.slack = None

    # -- routes ----------------------------------------------------------------------------

    async def slack_events(self, request: web.Request) -> web.Response:
        assert self.slack is not None
        bolt_response = await self.slack.app.async_dispatch(await to_bolt_request(request))
        if bolt_response.status == 404 and _unhandled(bolt_response):
            # An event, a click on a link button, a closed modal that no listener takes:
            # 200, or Slack shows the person an error and counts a failure. Here, not as
            # catch-all listeners: Bolt would try them on every request (a fifth of the
            # acknowledgement's time in bench/slack.py).
            self.metrics.inc("intake_slack_events_total", "kind", "unhandled")
            bolt_response = BoltResponse(status=200, body="")
        self.metrics.inc("intake_slack_requests_total", "status", str(bolt_response.status))
        return await to_aiohttp_response(bolt_response)

    async def slack_off(self, request: web.Request) -> web.Response:
        return _json({"ok": False, "error": "slack_not_configured" if self.mode is None
                      else "slack_uses_socket_mode"}, 404)

    async def healthz(self, request: web.Request) -> web.Response:
        assert self.runtime is not None
        try:
            await asyncio.wait_for(self.runtime.db.ping(), HEALTH_TIMEOUT)
        except Exception as error:  # noqa: BLE001 - any failure means unhealthy
            log.warning("health check: database unreachable: %r", error)
            return _json({"status": "unavailable", "database": "unreachable",
                          "slack": self.mode or "off"}, 503)
        return _json({"status": "ok", "database": "ok", "slack": self.mode or "off"}, 200)

    async def metrics_page(self, request: web.Request) -> web.Response:
        """The process's metrics (``core.metrics``), database gauges read now."""
        assert self.runtime is not None
        return await self.runtime.metrics.page(request)


def add_web_parts(app: web.Application, runtime: Runtime) -> list[Any]:
    """The hook for other parts served by this HTTP process (the review desk, ``desk/``):
    each ``intake.web`` entry point is ``setup(app, runtime)``, adds its routes and may
    return an object whose ``started()`` is called once the process listens."""
    return [entry_point.load()(app, runtime)
            for entry_point in entry_points(group="intake.web")]


def _unhandled(response: BoltResponse) -> bool:
    """Bolt's answer when no listener matched (``{"error": "unhandled request"}``)."""
    return "unhandled request" in (response.body or "")


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise RuntimeError("the web adapter is not listening")


def _json(data: dict[str, Any], status: int) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json")
