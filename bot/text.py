"""Slack's message markup turned back into what the contributor typed.

Slack sends ``&``, ``<`` and ``>`` as entities and wraps links, mentions and
broadcasts in ``<...>``. The core stores plain text; rendering escapes it again
for Slack, so a name typed as ``<!channel>`` is shown, never broadcast.
"""

from __future__ import annotations

import re

_MARKUP = re.compile(r"<([^<>\n]{1,3000})>")
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


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
    """What the contributor typed, from a Slack message's ``text``."""
    if not text:
        return ""
    unwrapped = _MARKUP.sub(_unwrap, text)
    for entity, char in _ENTITIES:
        unwrapped = unwrapped.replace(entity, char)
    return unwrapped


def without_mention(text: str, bot_user_id: str | None) -> str:
    """A mention's text without the leading ``<@BOT>``."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(text.split())
