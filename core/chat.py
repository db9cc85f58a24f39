"""``intake chat``: the conversation in a terminal, against the same database.

A thin adapter like the Slack and e-mail ones: lines in, the core's replies out
through the outbox. A card is given as a path (``card: ./README.md``, or just the
path when the card is asked for).
"""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from core.conversation import CardFile, Inbound
from core.inbound import NewEvent, StoredEvent
from core.outbox import OutboundRecord, OutboxWorker
from core.render import render_reply
from core.service import ConversationKey

if TYPE_CHECKING:
    from core.runtime import Runtime
    from core.worker import Unit

CHANNEL = "chat"
_CARD_LINE = re.compile(r"^\s*(?:dataset[ -_]?)?card\s*[:=]\s*(?P<path>.+?)\s*$", re.I)


_CARD_SUFFIXES = (".md", ".markdown", ".txt")


def card_path_in(line: str, asking_card: bool) -> Path | None:
    """The local file a line names as the card, if any (URLs are left to the core).

    A bare path to an existing ``.md``/``.markdown``/``.txt`` file is the card at any
    question (a corrected card at the summary), not only when the card is asked for.
    """
    match = _CARD_LINE.match(line)
    bare = line.strip().strip("'\"")
    looks_like_card = " " not in bare and bare.lower().endswith(_CARD_SUFFIXES)
    candidate = match.group("path") if match else (
        line.strip() if asking_card or looks_like_card else "")
    candidate = candidate.strip().strip("'\"")
    if not candidate or candidate.lower().startswith(("http://", "https://")):
        return None
    path = Path(candidate).expanduser()
    # A missing file that is plainly meant as the card ("card: x", or a card-like path
    # when the card is asked for) is named back, not taken as words for the card question.
    meant = match or (asking_card and " " not in candidate
                      and (candidate.lower().endswith(_CARD_SUFFIXES) or "/" in candidate))
    return path if path.is_file() or meant else None


def event_for(line: str, asking_card: bool, max_card_bytes: int) -> Inbound:
    """Turn one typed line into an event; a named file becomes a card upload."""
    path = card_path_in(line, asking_card)
    if path is None:
        return Inbound("text", text=line)
    try:
        size = path.stat().st_size
        data = path.read_bytes()[: max_card_bytes + 1] if size <= max_card_bytes * 4 else b""
    except OSError as error:  # the path as typed, and where it was looked for
        where = path if path.is_absolute() else path.absolute()
        return Inbound("card_fetch_failed", text=f"{where}: {error.strerror or error}")
    if size > max_card_bytes * 4:
        data = b"\0" * (max_card_bytes + 1)  # too large: the card check says so
    return Inbound("file", file=CardFile(filename=path.name, data=data))


def logged(line: str, contributor: str, asking_card: bool, max_card_bytes: int) -> NewEvent:
    """A typed line as an inbound-log entry: the card file it names is read now, into it."""
    event = event_for(line, asking_card, max_card_bytes)
    payload: dict[str, Any] = {"contributor_id": contributor, "kind": event.kind,
                               "text": event.text}
    if event.file is not None:
        payload["filename"] = event.file.filename
    return NewEvent(CHANNEL, f"{contributor}:{uuid.uuid4().hex}", contributor, payload,
                    event.file.data if event.file is not None else None)


class ChatHandler:
    """The terminal's channel for the worker: a logged line back into an event."""

    channel = CHANNEL

    async def translate(self, event: StoredEvent) -> tuple[ConversationKey, Inbound]:
        payload = event.payload
        file = None
        if payload.get("filename") is not None:
            file = CardFile(filename=str(payload["filename"]), data=event.raw or b"")
        inbound = Inbound(payload.get("kind", "text"), text=str(payload.get("text", "")),
                          file=file)
        return ConversationKey(CHANNEL, str(payload["contributor_id"])), inbound

    async def apply(self, unit: Unit, translated: tuple[ConversationKey, Inbound]) -> str:
        key, inbound = translated
        await unit.turn(key, inbound)
        return "turn"


class TerminalChat:
    """Reads lines, logs them, has the worker process them, prints what the outbox sends."""

    def __init__(self, runtime: Runtime, contributor: str, *,
                 out: TextIO = sys.stdout) -> None:
        self.runtime = runtime
        self.key = ConversationKey(CHANNEL, contributor)
        self.max_card_bytes = runtime.settings.max_card_bytes
        self.out = out
        self.renderer = runtime.renderer
        self.outbox = OutboxWorker(runtime.db, {CHANNEL: self._print})
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
        await self._log(logged(line, self.key.contributor_id, self.asking == "card",
                               self.max_card_bytes))

    async def _log(self, event: NewEvent) -> None:
        await self.runtime.inbound.append(event)
        await self.runtime.events.wait_idle()
        await self.flush()

    async def flush(self) -> None:
        await self.outbox.run_once(recipient=self.key.contributor_id)

    async def run(self, read_line: Callable[[], str]) -> None:
        """Until end of input; the state is saved after every line, so leaving is safe."""
        await self.flush()  # anything queued for us while we were away
        await self.runtime.events.run_once()  # lines a crash left unprocessed
        await self._log(NewEvent(CHANNEL, f"{self.key.contributor_id}:{uuid.uuid4().hex}",
                                 self.key.contributor_id,
                                 {"contributor_id": self.key.contributor_id,
                                  "kind": "resume", "text": ""}))
        while True:
            try:
                line = await asyncio.to_thread(read_line)
            except (EOFError, KeyboardInterrupt):
                print(self.renderer.render("chat_goodbye", {}), file=self.out)
                return
            await self.say(line)
