"""The App Home tab: the user's submissions and their status, built when it is published.

Built at delivery time (not when queued) so a tab published after a retry shows the
status of that moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.blocks import OPEN_FORM_ACTION, plain, sections
from bot.texts import Texts
from core import repository
from core.conversation import ConversationState
from core.fields import FIELD_ORDER
from core.storage.database import Database


@dataclass(frozen=True)
class Draft:
    answered: int
    total: int


def draft_of(state: ConversationState | None) -> Draft | None:
    """How far a draft in progress is, for the home tab."""
    if state is None or state.phase not in ("collecting", "confirming"):
        return None
    return Draft(len(state.answers.given()), len(FIELD_ORDER))


async def home_view(db: Database, texts: Texts, user_id: str) -> dict[str, Any]:
    async with db.transaction() as session:
        submissions = await repository.slack_submissions_of(session, user_id)
        draft = draft_of(await repository.slack_conversation_state(session, user_id))
    body = texts.render("home", submissions=submissions, draft=draft)
    return {"type": "home", "blocks": [
        {"type": "header", "text": plain(texts.label("home_title"), limit=150)},
        *sections(body),
        {"type": "actions", "elements": [
            {"type": "button", "action_id": OPEN_FORM_ACTION, "style": "primary",
             "text": plain(texts.label("home_form_button")), "value": "open"}]},
    ]}
