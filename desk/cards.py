"""A dataset card as a reviewer reads it in the browser.

A card is written by the contributor, so it is untrusted HTML waiting to happen. It is
rendered with markdown-it-py (maintained, CommonMark-compliant) with raw HTML *disabled*:
``<script>`` or ``<img onerror=...>`` in a card come out as visible text, never as
markup; its link validation refuses ``javascript:``, ``vbscript:``, ``file:`` and
``data:`` URLs. A hand-written renderer or a regex "sanitiser" would be a copy of these
rules with holes. The page's Content-Security-Policy (no scripts, images only from the
desk) is the second fence.
"""

from __future__ import annotations

from dataclasses import dataclass

from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_MARKDOWN.enable("table")


@dataclass(frozen=True)
class RenderedCard:
    """The card's YAML front matter as text (shown verbatim) and its body as safe HTML."""

    front_matter: str
    html: str


def split_front_matter(text: str) -> tuple[str, str]:
    """(front matter, body): a card opens with ``---``, YAML, ``---`` (Hugging Face style)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return "", text
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() in ("---", "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1:])
    return "", text


def render_card(content: bytes) -> RenderedCard:
    """The card's text (undecodable bytes replaced) as front matter and escaped HTML."""
    front, body = split_front_matter(content.decode("utf-8", "replace"))
    return RenderedCard(front_matter=front, html=_MARKDOWN.render(body))
