"""Text from an HTML-only message: what the person typed, not what their client quoted.

The standard library's ``HTMLParser`` is forgiving of broken markup and never raises on
content; quoted history (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's reply
header block) is dropped here because HTML marks it, unlike plain text.

A table row is one line: people answer in a two-column table (Outlook's "Insert table",
a form copied from a web page), so a row of two cells reads "Dataset name: X", and a
wider row its cells with " | " between them, whatever paragraphs the cells hold.
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
MAX_LABEL_CHARS = 60  # a first cell longer than this is not a label


class _Extractor(HTMLParser):
    """Collects visible text; everything inside a quote or a skipped element is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, hides its content)
        self._hidden = 0
        self._quoted_rest = False  # Outlook: everything after its reply marker is history
        self._tables = 0
        self._rows: list[tuple[int, list[list[str]]]] = []  # (table depth, cells' chunks)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        self._table_start(tag)
        if tag in _BLOCKS:
            self._emit("\n")
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
            self._emit("\n")
        self._table_end(tag)
        for index in range(len(self._stack) - 1, -1, -1):
            if self._stack[index][0] == tag:
                for _tag, hides in self._stack[index:]:
                    self._hidden -= hides
                del self._stack[index:]
                break

    def handle_data(self, data: str) -> None:
        if not self._hidden and not self._quoted_rest:
            self._emit(data)

    def _emit(self, text: str) -> None:
        """Text goes to the cell being read, if any, else to the output."""
        if self._rows and self._rows[-1][0] == self._tables and self._rows[-1][1]:
            self._rows[-1][1][-1].append(text)
        else:
            self.chunks.append(text)

    def _table_start(self, tag: str) -> None:
        if tag == "table" and self._tables < MAX_DEPTH:
            self._tables += 1
        elif tag == "tr" and self._tables:
            if self._rows and self._rows[-1][0] == self._tables:
                self._flush_row()  # the previous row's </tr> was left out
            self._rows.append((self._tables, []))
        elif tag in ("td", "th") and self._rows and self._rows[-1][0] == self._tables:
            self._rows[-1][1].append([])

    def _table_end(self, tag: str) -> None:
        if tag == "tr" and self._rows and self._rows[-1][0] == self._tables:
            self._flush_row()
        elif tag == "table" and self._tables:
            while self._rows and self._rows[-1][0] == self._tables:
                self._flush_row()
            self._tables -= 1

    def _flush_row(self) -> None:
        """One row as one line, into the cell around its table or the output."""
        _depth, cells = self._rows.pop()
        texts = [" ".join("".join(cell).replace("\xa0", " ").split()) for cell in cells]
        texts = [text for text in texts if text]
        if len(texts) == 2 and len(texts[0]) <= MAX_LABEL_CHARS:
            line = f"{texts[0].rstrip(' :：')}: {texts[1]}"
        else:
            line = " | ".join(texts)
        if line:
            self._emit(f"\n{line}\n")


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
