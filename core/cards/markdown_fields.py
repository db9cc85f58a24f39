"""Locate the OTDI Markdown fields in a card body, tolerantly and in linear time.

Real cards rename headings a little, change their level, case and punctuation, add
"[optional]" or "(required)", give a field as a "**Label:** value" line, and leave the
template's HTML comments in; none of that should make a field go missing. The body
is read as a tree of sections (a section's content includes its sub-sections) by one
pass over its lines that knows fenced and indented code, ATX and setext headings, so a
``#`` line in a code block is no heading. Heading titles and labels come from
``spec.yaml`` (``heading_aliases``, ``label_aliases``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache

from core.spec import card_requirements

_COMMENT = re.compile(r"<!--[\s\S]*?(?:-->|\Z)")
_SUFFIX = re.compile(r"[\[({]\s*(?:optional|required|recommended|mandatory)\s*[\])}]",
                     re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LABELLED_ITEM = re.compile(
    r"^\s*(?:[-*+]|\d+[.)])\s+(?:\*\*|__)[^*_\n]{1,80}?:?\s*(?:\*\*|__)\s*:?")
_LABEL_LINE = re.compile(
    r"^\s{0,3}(?:>\s*)?(?:[-*+]\s+|\d+[.)]\s+)?(?:\*\*|__|\*|_)?\s*"
    r"(?P<label>[A-Za-z][^:*_\n`]{0,80}?)\s*(?:\*\*|__|\*|_)?\s*:(?!//)\s*(?:\*\*|__|\*|_)?"
    r"\s*(?P<value>.*)$")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+|$)(.*)$")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BLOCK_START = re.compile(r"^ {0,3}(?:[-*+]\s|\d{1,9}[.)]\s|>|\||<|#)")
_STOPWORDS = frozenset({"the", "a", "an", "of", "for", "and", "to", "is", "are", "was",
                        "were", "any", "this", "used", "in", "on", "s"})
_EMPHASIS = "*_`~ "
FUZZY_HEADING_BUDGET = 1000  # headings tried for typos: more than real cards have, bounded


def normalise_words(title: str) -> tuple[str, ...]:
    """Lowercase significant words of a heading or label, with plural "s" dropped."""
    text = _LINK.sub(r"\1", _SUFFIX.sub(" ", title)).lower().replace("&", " and ")
    words = []
    for word in _NON_WORD.sub(" ", text).split():
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return tuple(words)


@cache
def field_headings() -> dict[str, tuple[str, ...]]:
    """Field -> the heading titles it may sit under (the template's first)."""
    aliases = card_requirements()["heading_aliases"]
    return {name: tuple(str(title) for title in titles) for name, titles in aliases.items()}


@cache
def _excluded_words(name: str) -> frozenset[tuple[str, ...]]:
    """Normalised titles of sub-sections that are not part of field ``name``'s text."""
    titles = card_requirements().get("content_excludes", {}).get(name, ())
    return frozenset(normalise_words(str(title)) for title in titles)


@cache
def _alias_words(name: str) -> tuple[tuple[str, ...], ...]:
    return tuple(normalise_words(alias) for alias in field_headings()[name])


@cache
def _label_words() -> dict[tuple[str, ...], str]:
    """Normalised label -> field, from heading titles and the extra label aliases."""
    table: dict[tuple[str, ...], str] = {}
    for name, titles in card_requirements().get("label_aliases", {}).items():
        for title in titles:
            table.setdefault(normalise_words(str(title)), name)
    for name in field_headings():
        for words in _alias_words(name):
            if words:
                table.setdefault(words, name)
    return table


@cache
def _word_fields() -> dict[str, frozenset[str]]:
    """Word -> fields with an alias holding it: a heading is only scored against the
    fields it shares a word with, so a card with many headings stays fast."""
    table: dict[str, set[str]] = {}
    for name in field_headings():
        for alias in _alias_words(name):
            for word in alias:
                table.setdefault(word, set()).add(name)
    return {word: frozenset(names) for word, names in table.items()}


@cache
def _alias_lengths(name: str) -> tuple[int, ...]:
    return tuple(len(" ".join(alias)) for alias in _alias_words(name))


def _near_in_length(length: int, name: str) -> bool:
    """Whether a heading of ``length`` characters could be an alias of ``name`` with a typo."""
    return any(2 * min(length, other) / (length + other) >= 0.88
               for other in _alias_lengths(name) if other)


def heading_score(title_words: tuple[str, ...], name: str, fuzzy: bool = False) -> float:
    """How well a heading names field ``name``: 1 exact, less for looser matches, 0 none.

    ``fuzzy`` also accepts a heading that is an alias with a typo; it is slower, so
    it is only tried when no heading matched otherwise.
    """
    best = 0.0
    heading = set(title_words)
    joined = " ".join(title_words)
    for rank, alias in enumerate(_alias_words(name)):
        penalty = 0.01 * rank
        if not alias:
            continue
        if set(alias) == heading:
            best = max(best, 1.0 - penalty)
        elif len(alias) >= 2 and set(alias) <= heading and len(heading) - len(alias) <= 3:
            best = max(best, 0.8 + 0.1 * len(alias) / len(heading) - penalty)
        elif fuzzy and best == 0.0 and len(joined) >= 8:
            best = max(best, _typo_score(joined, " ".join(alias)) - penalty)
    return best


def _typo_score(heading: str, alias: str) -> float:
    """0.7 x similarity for a heading that is the alias with a typo or two, else 0."""
    if 2 * min(len(heading), len(alias)) / (len(heading) + len(alias)) < 0.88:
        return 0.0
    matcher = SequenceMatcher(None, heading, alias)
    if matcher.quick_ratio() < 0.88:
        return 0.0
    ratio = matcher.ratio()
    return 0.7 * ratio if ratio >= 0.88 else 0.0


@dataclass
class Section:
    """A heading, the text right under it, and where its sub-tree ends (body lines)."""

    level: int
    title: str
    words: tuple[str, ...]
    line: int
    own_text: str
    start: int
    end: int
    full_end: int
    index: int = 0
    head: int = 0


@dataclass
class Part:
    """One piece of a field's text: the card line it starts on and the text."""

    line: int | None
    text: str


@dataclass
class FieldValue:
    """Where a field was found and what it says: its own text first, then sub-sections."""

    text: str
    line: int | None
    heading: str | None = None
    parts: list[Part] = field(default_factory=list)
    lines: tuple[int, int] | None = None  # body lines [start, end) the value covers

    def __post_init__(self) -> None:
        if not self.parts:
            self.parts = [Part(self.line, self.text)]


@dataclass
class Label:
    """A "**Label:** value" line that names a field."""

    name: str
    index: int
    value: str


@dataclass
class CardBody:
    """A parsed card body: its sections, the text before them, its lines and labels."""

    sections: list[Section]
    preamble: str
    lines: list[str]
    first_line: int
    labels: dict[str, list[Label]] = field(default_factory=dict)
    code_lines: frozenset[int] = frozenset()
    _found: dict[str, Section | None] = field(default_factory=dict, repr=False)
    _scores: dict[tuple[str, ...], dict[str, float]] = field(default_factory=dict, repr=False)
    _bests: dict[str, Section] | None = field(default=None, repr=False)

    def scores(self, words: tuple[str, ...]) -> dict[str, float]:
        """Field -> score for a heading's words (computed once per distinct heading)."""
        cached = self._scores.get(words)
        if cached is None:
            table = _word_fields()
            names = {name for word in words for name in table.get(word, ())}
            cached = {name: score for name in names if (score := heading_score(words, name))}
            self._scores[words] = cached
        return cached

    def find_section(self, name: str) -> Section | None:
        """The section whose heading best names field ``name`` (first one on ties)."""
        if name not in self._found:
            self._found[name] = self._best(name) or self._best_fuzzy(name)
        return self._found[name]

    def _best(self, name: str) -> Section | None:
        if self._bests is None:  # one pass over the headings for every field
            scored: dict[str, tuple[float, Section]] = {}
            for section in self.sections:
                for other, score in self.scores(section.words).items():
                    if other not in scored or score > scored[other][0]:
                        scored[other] = (score, section)
            self._bests = {other: pair[1] for other, pair in scored.items()}
        return self._bests.get(name)

    def _best_fuzzy(self, name: str) -> Section | None:
        best: tuple[float, Section] | None = None
        for section in self.sections[:FUZZY_HEADING_BUDGET]:
            length = len(" ".join(section.words))
            if length < 8 or not _near_in_length(length, name):
                continue
            score = heading_score(section.words, name, True)
            if score > 0 and (best is None or score > best[0]):
                best = (score, section)
        return best[1] if best else None

    def section_value(self, section: Section, name: str,
                      keep: frozenset[str] = frozenset()) -> FieldValue:
        """The section's text as the field's value: its own text, then its sub-sections'.

        A sub-section that is another field's own place (PETs under Personal and
        Sensitive Information) is left out with its sub-tree, unless that field is in
        ``keep`` (``content_includes`` in spec.yaml); so is one that the template puts
        there for something else (``content_excludes``: "Languages").
        """
        parts = [Part(section.line, section.own_text)]
        count = len(self.sections)
        position = section.index + 1
        excluded = _excluded_words(name)
        while position < count and self.sections[position].head < section.full_end:
            sub = self.sections[position]
            position += 1
            others = {other for other in self.scores(sub.words) if other != name}
            if (others and not others <= keep) or sub.words in excluded:
                while position < count and self.sections[position].head < sub.full_end:
                    position += 1
                continue
            parts.append(Part(sub.line, sub.own_text))
        text = "\n\n".join(part.text for part in parts if part.text)
        return FieldValue(text, section.line, section.title, parts,
                          (section.head, section.full_end))

    def find_labelled(self, name: str, within: Section | None = None) -> list[FieldValue]:
        """Lines labelling field ``name``, those inside ``within`` first."""
        hits = self.labels.get(name, [])
        if within is not None:
            inside = [hit for hit in hits if within.start <= hit.index < within.full_end]
            hits = inside + [hit for hit in hits if hit not in inside]
        return [FieldValue(hit.value, self.first_line + hit.index, None,
                           [Part(self.first_line + hit.index, hit.value)],
                           (hit.index, hit.index + 1 + hit.value.count("\n")))
                for hit in hits]


def clean_value(text: str) -> str:
    """A field's text without surrounding emphasis, backticks or whitespace."""
    return text.strip().strip(_EMPHASIS).strip()


def strip_comments(text: str) -> str:
    """Blank out HTML comments, keeping line numbers where they were."""
    if "<!--" not in text:
        return text
    return _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def without_labelled_items(text: str) -> str:
    """Text minus "- **Label:** value" list items (the description's fact list)."""
    return "\n".join(line for line in text.split("\n") if not _LABELLED_ITEM.match(line)).strip()


def _heading_title(raw: str) -> str:
    return _ATX_CLOSE.sub("", raw).strip()


def _scan(lines: list[str]) -> tuple[list[tuple[int, str, int, int]], set[int]]:
    """Headings (level, title, first line, line after it) and code lines, in one pass."""
    headings: list[tuple[int, str, int, int]] = []
    code: set[int] = set()
    fence: str | None = None
    paragraph_start: int | None = None
    previous_blank = True
    for index, line in enumerate(lines):
        if fence is not None:
            code.add(index)
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.strip(fence[0]):
                fence = None
            continue
        opening = _FENCE.match(line)
        if opening:
            fence = opening.group(1)
            code.add(index)
            paragraph_start = None
            previous_blank = False
            continue
        if not line.strip():
            paragraph_start = None
            previous_blank = True
            continue
        if previous_blank and (line.startswith("    ") or line.startswith("\t")) \
                and paragraph_start is None:
            code.add(index)
            previous_blank = False
            continue  # an indented code block line
        previous_blank = False
        atx = _ATX.match(line)
        if atx:
            headings.append((len(atx.group(1)), _heading_title(atx.group(2)), index, index + 1))
            paragraph_start = None
            continue
        underline = _SETEXT.match(line)
        if underline and paragraph_start is not None:
            level = 1 if underline.group(1)[0] == "=" else 2
            title = " ".join(part.strip() for part in lines[paragraph_start:index])
            headings.append((level, title, paragraph_start, index + 1))
            paragraph_start = None
            continue
        if underline:
            continue  # a thematic break
        if paragraph_start is None and not _BLOCK_START.match(line):
            paragraph_start = index
    return headings, code


def _labels(lines: list[str], code: set[int],
            heading_lines: set[int]) -> dict[str, list[Label]]:
    """Every "**Label:** value" line whose label names a field, with its value.

    A label with nothing after the colon takes the lines below it, up to a blank line
    after some text, a heading or the next label.
    """
    table = _label_words()
    found: dict[str, list[Label]] = {}
    cache_: dict[str, str | None] = {}
    for index, line in enumerate(lines):
        if index in code or index in heading_lines or ":" not in line:
            continue
        match = _LABEL_LINE.match(line)
        if not match:
            continue
        label = match.group("label")
        if label not in cache_:
            cache_[label] = table.get(normalise_words(label))
        name = cache_[label]
        if name is None:
            continue
        value = clean_value(match.group("value"))
        if not value:
            value = _following(lines, index + 1, code, heading_lines)
        found.setdefault(name, []).append(Label(name, index, value))
    return found


def _is_label_item(line: str) -> bool:
    """A "- **Label:** ..." list item (with its colon; "- **Ada Example**" is a name)."""
    match = _LABELLED_ITEM.match(line)
    return match is not None and ":" in match.group(0)


def _following(lines: list[str], start: int, code: set[int], heading_lines: set[int]) -> str:
    """The lines a label with nothing after its colon stands for.

    The next "- **Paper:**" item of a list of labels is another fact, not the value:
    "- **Repository:**" followed by it is an empty Repository line.
    """
    taken: list[str] = []
    for index in range(start, min(len(lines), start + 50)):
        line = lines[index]
        if index in heading_lines or (index not in code and (_is_label_item(line) or (
                _LABEL_LINE.match(line) and _label_words().get(normalise_words(
                    _LABEL_LINE.match(line).group("label")))))):
            break
        if not line.strip():
            if taken:
                break
            continue
        taken.append(line)
    return clean_value("\n".join(taken))


def _section_ends(headings: list[tuple[int, str, int, int]], total: int) -> list[int]:
    """For each heading, the line where the next heading of its level or higher starts."""
    ends = [total] * len(headings)
    open_headings: list[int] = []
    for position, (level, _title, start, _end) in enumerate(headings):
        while open_headings and headings[open_headings[-1]][0] >= level:
            ends[open_headings.pop()] = start
        open_headings.append(position)
    return ends


def parse_body(body: str, first_line: int = 1) -> CardBody:
    """Split the Markdown body into a tree of sections, and find its labelled lines."""
    lines = strip_comments(body).split("\n")
    headings, code = _scan(lines)
    full_ends = _section_ends(headings, len(lines))
    sections: list[Section] = []
    for position, (level, title, start, end) in enumerate(headings):
        next_start = headings[position + 1][2] if position + 1 < len(headings) else len(lines)
        sections.append(Section(
            level=level, title=title.strip(), words=normalise_words(title),
            line=first_line + start, own_text="\n".join(lines[end:next_start]).strip(),
            start=end, end=next_start, full_end=full_ends[position], index=position,
            head=start))
    heading_lines = {index for _l, _t, start, end in headings for index in range(start, end)}
    preamble_end = headings[0][2] if headings else len(lines)
    return CardBody(sections, "\n".join(lines[:preamble_end]).strip(), lines, first_line,
                    _labels(lines, code, heading_lines), frozenset(code))
