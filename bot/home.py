"""The App Home tab: the user's submissions and their status, built when it is published.

Built at delivery time (not when queued) so a tab published after a retry shows the
status of that moment.
"""

from __future__ import annotations

from typing import Any

from bot import queries
from bot.blocks import OPEN_FORM_ACTION, plain, sections
from bot.texts import Texts
from core.service import ConversationKey
from core.storage.database import Database


async def home_view(db: Database, texts: Texts, user_id: str) -> dict[str, Any]:
    key = ConversationKey(queries.CHANNEL, user_id)
    submissions = await queries.submissions_of(db, key)
    draft = queries.draft_of(await queries.conversation_state(db, key))
    body = texts.render("home", submissions=submissions, draft=draft)
    return {"type": "home", "blocks": [
        {"type": "header", "text": plain(texts.label("home_title"), limit=150)},
        *sections(body),
        {"type": "actions", "elements": [
            {"type": "button", "action_id": OPEN_FORM_ACTION, "style": "primary",
             "text": plain(texts.label("home_form_button")), "value": "open"}]},
    ]}
