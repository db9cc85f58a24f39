"""Slack's message markup turned back into what the contributor typed.

Slack sends ``&``, ``<`` and ``>`` as entities and wraps links, mentions and
broadcasts in ``<...>``. The core stores plain text; rendering escapes it again
for Slack, so a name typed as ``<!channel>`` is shown, never broadcast.

A message typed in a Slack client also carries ``rich_text`` blocks, the structured
form of the same words: they are read first (``message_text``), because they tell
an emoji, a quote or bold apart from the words themselves; ``text`` is the fallback
(messages from apps, old clients) and gets the same rules. Emoji are not words and
are left out; a quote (``> ...``) is someone else's words, usually the bot's question
quoted above the answer, and is left out when there is anything else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_MARKUP = re.compile(r"<([^<>\n]{1,3000})>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))
# :shortcode: and ::skin-tone-2:, not the colons of "10:30:00" or "name: x".
_EMOJI = re.compile(r"(?<![\w:]):[a-z0-9_+'-]*[a-z_+'][a-z0-9_+'-]*:(?::skin-tone-[2-6]:)?")
_QUOTE = re.compile(r"^&gt;[ \t]?")
_SPACES = re.compile(r"[ \t]{2,}")


def _unwrap(match: re.Match[str]) -> str:
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):  # a user: <@U123> or <@U123|ada>
        return "@" + (label or target[1:])
    if target.startswith("#"):  # a channel: <#C123|general>
        return "#" + (label or target[1:])
    if target.startswith("!"):  # <!channel>, <!here>, <!subteam^S1|@team>, <!date^...|text>
        if label:
            return label
        return "@" + target[1:].split("^", 1)[0]
    if target.startswith("mailto:"):
        return target[len("mailto:"):]
    return target  # a link: keep the address, not its label


def plain_text(text: str | None) -> str:
    """What the contributor typed, from a Slack message's ``text`` (markup only)."""
    if not text:
        return ""
    unwrapped = _MARKUP.sub(_unwrap, text)
    for entity, char in _ENTITIES:
        unwrapped = unwrapped.replace(entity, char)
    return unwrapped


def _without_emoji(line: str) -> str:
    if ":" not in line:
        return line
    return _SPACES.sub(" ", _EMOJI.sub("", line)).strip(" \t")


def _answer_lines(lines: Iterable[tuple[str, bool]]) -> str:
    """The lines that are the person's own: quoted ones only when nothing else is there."""
    kept = [(line, quoted) for line, quoted in lines]
    own = [line for line, quoted in kept if not quoted]
    chosen = own if any(line.strip() for line in own) else [line for line, _ in kept]
    return "\n".join(chosen).strip("\n")


def _text_lines(text: str) -> str:
    """The ``text`` field: quotes and emoji marked up the way Slack writes them."""
    lines = []
    for raw in text.split("\n"):
        quoted = bool(_QUOTE.match(raw))
        lines.append((_without_emoji(plain_text(_QUOTE.sub("", raw, count=1))), quoted))
    return _answer_lines(lines)


def _inline(elements: list[dict[str, Any]]) -> str:
    """One rich_text_section's words: links as their address, mentions as in ``text``."""
    out: list[str] = []
    for element in elements:
        kind = element.get("type")
        if kind == "text":
            out.append(str(element.get("text") or ""))
        elif kind == "link":
            url = str(element.get("url") or "")
            out.append(url[len("mailto:"):] if url.startswith("mailto:") else url)
        elif kind == "user":
            out.append("@" + str(element.get("user_id") or ""))
        elif kind == "channel":
            out.append("#" + str(element.get("channel_id") or ""))
        elif kind == "usergroup":
            out.append("@" + str(element.get("usergroup_id") or ""))
        elif kind == "broadcast":
            out.append("@" + str(element.get("range") or ""))
        elif kind == "date":
            out.append(str(element.get("fallback") or ""))
        elif kind == "emoji":
            out.append(" ")
        else:  # an element Slack adds later: its text, if it has one
            out.append(str(element.get("text") or ""))
    return "".join(out)


def _block_lines(elements: list[dict[str, Any]], quoted: bool = False,
                 ) -> list[tuple[str, bool]]:
    lines: list[tuple[str, bool]] = []
    for element in elements:
        kind = element.get("type")
        children = element.get("elements") or []
        if kind == "rich_text_list":
            for item in children:
                lines.extend(_block_lines([item], quoted))
            continue
        text = _inline(children)
        for line in text.split("\n"):
            lines.append((_SPACES.sub(" ", line).strip(" \t"), quoted or
                          kind == "rich_text_quote"))
    return lines


def rich_text(blocks: Any) -> str | None:
    """The words of a message's ``rich_text`` blocks, or None when it has none."""
    if not isinstance(blocks, list):
        return None
    lines: list[tuple[str, bool]] = []
    found = False
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "rich_text":
            found = True
            lines.extend(_block_lines(block.get("elements") or []))
    return _answer_lines(lines) if found else None


def message_text(message: dict[str, Any]) -> str:
    """What a person wrote in a message event: its rich_text blocks, else its ``text``."""
    from_blocks = rich_text(message.get("blocks"))
    if from_blocks is not None and (from_blocks.strip() or not message.get("text")):
        return from_blocks
    return _text_lines(str(message.get("text") or ""))


def without_mention(text: str, bot_user_id: str | None) -> str:
    """A mention's text without the leading ``<@BOT>``."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(text.split())
