"""What the Bolt listeners do before Slack gets its answer: log the body, and what cannot wait.

A request that means work is appended to the inbound log (``runtime.inbound``) with
Slack's id for it, and only then answered 200; if the log cannot store it the
listener raises, Bolt answers 500 and Slack tries again. A retry of a logged event is
a duplicate in the log: 200, no effect. The work itself is done by the event worker
(``bot.handler.SlackHandler``). Two things must happen within Slack's 3 s and stay
here: opening a modal with the click's ``trigger_id``, and the form's inline errors.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.handler import CHANNEL, idempotency_key, user_of
from bot.modal import form_errors, form_view, read_form
from bot.profiles import ProfileEmails
from bot.text import plain_text
from bot.texts import Texts
from core import repository
from core.conversation.form import prefill_from_text
from core.inbound import Appended, NewEvent
from core.metrics import Metrics
from core.runtime import Runtime

log = logging.getLogger(__name__)
FORM_EMAIL_TIMEOUT = 1.0  # the form must open within Slack's 3 s


@dataclass
class SlackIntake:
    """What the Bolt listeners call; holds the parts they need."""

    runtime: Runtime
    client: AsyncWebClient
    texts: Texts
    profiles: ProfileEmails
    metrics: Metrics

    async def log(self, body: dict[str, Any], **extra: Any) -> Appended:
        """Store the request body before it is acknowledged (raises if it cannot be)."""
        appended = await self.runtime.inbound.append(NewEvent(
            channel=CHANNEL, idempotency_key=idempotency_key(body), order_key=user_of(body),
            payload={**body, **extra}))
        if appended.duplicate:
            self.metrics.inc("intake_slack_duplicates_total")
        return appended

    async def open_form(self, trigger_id: str, user: str, text: str = "") -> bool:
        """``views.open`` right away (the trigger expires in ~3 s), pre-filled from the draft
        and from what was typed with the command (``/contribute Ocean Temps https://...``)
        or the message a shortcut was used on."""
        async with self.runtime.db.transaction() as session:
            state = await repository.slack_conversation_state(session, user)
        email = await self.profiles.email(user, timeout=FORM_EMAIL_TIMEOUT)
        view = form_view(self.texts, state=state, suggested_email=email,
                         typed=prefill_from_text(plain_text(text)))
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))
            return False
        self.metrics.inc("intake_slack_events_total", "kind", "form_opened")
        return True

    def check_form(self, view: dict[str, Any]) -> dict[str, str]:
        """The inline errors (the core's rules), without I/O: Slack waits for the verdict."""
        return form_errors(read_form(view), self.texts, self.runtime.settings.max_card_bytes)
