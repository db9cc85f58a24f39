"""Text from an HTML-only message: what the person typed, not what their client quoted.

The standard library's ``HTMLParser`` is forgiving of broken markup and never raises on
content; quoted history (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's reply
header block) is dropped here because HTML marks it, unlike plain text.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCKS = frozenset({
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table",
    "ul", "ol", "dl", "dt", "dd", "hr", "section", "article", "header", "footer", "address",
})
_SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_QUOTE_CLASSES = ("gmail_quote", "moz-cite-prefix", "yahoo_quoted", "protonmail_quote")
_QUOTE_IDS = ("appendonsend", "divrplyfwdmsg", "mail-editor-reference-message-container")
_VOID = frozenset({"br", "hr", "img", "meta", "link", "input", "area", "base", "col", "wbr"})
MAX_DEPTH = 256


class _Extractor(HTMLParser):
    """Collects visible text; everything inside a quote or a skipped element is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self._hidden = 0
        self._quoted_rest = False  # Outlook: everything after its reply marker is history

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if tag in _BLOCKS:
            self.chunks.append("\n")
        if tag in _VOID:
            return
        values = {name.lower(): (value or "") for name, value in attrs}
        classes = values.get("class", "").lower()
        ident = values.get("id", "").lower()
        if ident in _QUOTE_IDS:
            self._quoted_rest = True
        hides = (tag in _SKIPPED or tag == "blockquote"
                 or any(name in classes for name in _QUOTE_CLASSES))
        if len(self._stack) < MAX_DEPTH:
            self._stack.append((tag, hides))
            self._hidden += hides

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if tag in _BLOCKS:
            self.chunks.append("\n")
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                for _tag, hides in self._stack[index:]:
                    self._hidden -= hides
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._quoted_rest:
            self.chunks.append(data)


def html_to_text(html: str) -> str:
    """Visible, unquoted text of an HTML body, one line per block, spaces collapsed."""
    parser = _Extractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - a parser bug must not lose the whole message
        pass
    text = "".join(parser.chunks).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
