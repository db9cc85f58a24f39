"""Conversation tests read as transcripts: what the contributor says, what the bot answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.conversation import CardFile, ConversationState, Inbound
from core.outbox import OutboundRecord, OutboxWorker
from core.render import Renderer, render_reply
from core.runtime import build_runtime
from core.service import ConversationKey, IntakeService
from core.settings import Settings
from core.storage.database import Database

RENDERER = Renderer()


def make_service(db: Database, **options: Any) -> IntakeService:
    """The real service as ``intake serve`` builds it, on the test's database."""
    settings = Settings(_env_file=None, INTAKE_DATABASE_URL=db.url)
    return build_runtime(settings, db, **options).service


@dataclass
class Transcript:
    """A contributor talking to the service; each call returns the bot's rendered answer."""

    service: IntakeService
    key: ConversationKey = field(default_factory=lambda: ConversationKey("chat", "ada"))
    said: list[str] = field(default_factory=list)

    async def _run(self, event: Inbound) -> str:
        delivered: list[OutboundRecord] = []

        async def collect(record: OutboundRecord) -> None:
            delivered.append(record)

        await self.service.handle(self.key, event)
        worker = OutboxWorker(self.service.db, {self.key.channel: collect})
        await worker.run_once(recipient=self.key.contributor_id)
        answer = "\n\n".join(render_reply(RENDERER, r.payload, "chat") for r in delivered)
        self.said.append(answer)
        return answer

    async def say(self, text: str) -> str:
        return await self._run(Inbound("text", text=text))

    async def upload(self, filename: str, data: bytes) -> str:
        return await self._run(Inbound("file", file=CardFile(filename, data)))

    async def click(self, field_name: str, *values: str) -> str:
        return await self._run(Inbound("choice", field=field_name, values=tuple(values)))

    async def state(self) -> ConversationState:
        from sqlalchemy import select

        from core.storage.models import Conversation

        async with self.service.db.transaction() as session:
            row = await session.scalar(select(Conversation).where(
                Conversation.channel == self.key.channel,
                Conversation.contributor_id == self.key.contributor_id))
            return ConversationState.model_validate(row.state if row else {})
