"""``intake chat``: the conversation in a terminal, against the same database.

A thin adapter like the Slack and e-mail ones: lines in, the core's replies out
through the outbox. A card is given as a path (``card: ./README.md``, or just the
path when the card is asked for).
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from core.conversation import CardFile, Inbound
from core.outbox import OutboundRecord, OutboxWorker
from core.render import Renderer, render_reply
from core.service import ConversationKey, IntakeService

CHANNEL = "chat"
_CARD_LINE = re.compile(r"^\s*(?:dataset[ -_]?)?card\s*[:=]\s*(?P<path>.+?)\s*$", re.I)


def card_path_in(line: str, asking_card: bool) -> Path | None:
    """The local file a line names as the card, if any (URLs are left to the core)."""
    match = _CARD_LINE.match(line)
    candidate = match.group("path") if match else (line.strip() if asking_card else "")
    candidate = candidate.strip().strip("'\"")
    if not candidate or candidate.lower().startswith(("http://", "https://")):
        return None
    path = Path(candidate).expanduser()
    return path if path.is_file() or match else None


def event_for(line: str, asking_card: bool, max_card_bytes: int) -> Inbound:
    """Turn one typed line into an event; a named file becomes a card upload."""
    path = card_path_in(line, asking_card)
    if path is None:
        return Inbound("text", text=line)
    try:
        size = path.stat().st_size
        data = path.read_bytes()[: max_card_bytes + 1] if size <= max_card_bytes * 4 else b""
    except OSError as error:
        return Inbound("card_fetch_failed", text=f"{path}: {error.strerror or error}")
    if size > max_card_bytes * 4:
        data = b"\0" * (max_card_bytes + 1)  # too large: the card check says so
    return Inbound("file", file=CardFile(filename=path.name, data=data))


class TerminalChat:
    """Reads lines, hands them to the service, prints the replies the outbox delivers."""

    def __init__(self, service: IntakeService, contributor: str, *, max_card_bytes: int,
                 out: TextIO = sys.stdout, renderer: Renderer | None = None) -> None:
        self.service = service
        self.key = ConversationKey(CHANNEL, contributor)
        self.max_card_bytes = max_card_bytes
        self.out = out
        self.renderer = renderer or Renderer()
        self.worker = OutboxWorker(service.db, {CHANNEL: self._print})
        self.asking: str | None = None

    async def _print(self, record: OutboundRecord) -> None:
        self.asking = (record.payload.get("choices") or {}).get("field") or self.asking
        for part in record.payload.get("parts", []):
            if part["template"] == "ask":
                self.asking = part["context"].get("field")
        text = render_reply(self.renderer, record.payload, "chat")
        reference = record.payload.get("reference")
        prefix = f"[{reference}] " if reference else ""
        print(f"\n{prefix}intake> {text}\n", file=self.out, flush=True)

    async def say(self, line: str) -> None:
        event = event_for(line, self.asking == "card", self.max_card_bytes)
        await self.service.handle(self.key, event)
        await self.flush()

    async def flush(self) -> None:
        await self.worker.run_once(recipient=self.key.contributor_id)

    async def run(self, read_line: Callable[[], str]) -> None:
        """Until end of input; the state is saved after every line, so leaving is safe."""
        await self.flush()  # anything queued for us while we were away
        await self.service.handle(self.key, Inbound("resume"))
        await self.flush()
        while True:
            try:
                line = await asyncio.to_thread(read_line)
            except (EOFError, KeyboardInterrupt):
                print(self.renderer.render("chat_goodbye", {}), file=self.out)
                return
            await self.say(line)
