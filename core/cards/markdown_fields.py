"""Locate the OTDI Markdown fields in a card body, tolerantly.

Real cards rename headings a little, change their level, case and punctuation,
add "[optional]", and leave the template's HTML comments in; none of that should
make a field go missing. Headings are found with markdown-it (so a ``#`` line in a
code block is not a heading) and matched on normalised words and known aliases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache, lru_cache

from markdown_it import MarkdownIt

# Heading titles each field may sit under: the OTDI template's first, then renames
# seen in real cards and in the older Hugging Face dataset card template.
FIELD_HEADINGS: dict[str, tuple[str, ...]] = {
    "dataset_description": ("Dataset Description", "Description", "About the Dataset",
                            "About this Dataset"),
    "dataset_sources": ("Dataset Sources", "Sources", "Links"),
    "curated_by": ("Curated by", "Curators", "Dataset Curators"),
    "data_collection_and_processing_section": (
        "Data Collection and Processing", "Initial Data Collection and Normalization",
        "Data Collection", "Collection and Processing"),
    "source_data_producers_section": (
        "Who Are the Source Data Producers?", "Who are the source language producers?",
        "Source Data Producers", "Data Producers"),
    "source_metadata_for_dataset": ("Source Metadata for Dataset", "Source Metadata"),
    "consent_documentation_location": ("Consent Documentation Location",
                                       "Consent Documentation", "Consent"),
    "bias_risks_limitations": ("Bias, Risks, and Limitations", "Discussion of Biases",
                               "Risks and Limitations", "Limitations", "Known Limitations",
                               "Biases and Limitations"),
    "personal_and_sensitive_information": ("Personal and Sensitive Information",
                                           "Personal Information", "Sensitive Information",
                                           "Personal Data"),
    "use_of_privacy_enhancing_technologies_pets": (
        "Privacy Enhancing Technologies (PETs) Used?", "Privacy Enhancing Technologies",
        "Use of Privacy Enhancing Technologies", "PETs Used", "PETs"),
    "dataset_card_authors": ("Dataset Card Authors", "Card Authors", "Dataset Card Author"),
    "dataset_issue_date": ("Dataset Issue Date", "Issue Date", "Date of Issue",
                           "Release Date", "Dataset Release Date", "Publication Date"),
    "range_dates_data_generation": ("Range of dates for data generation",
                                    "Dates of Data Generation", "Data Generation Dates",
                                    "Date Range", "Range of Dates", "Data Collection Period"),
    "proprietary_data_presence": ("Proprietary Data Presence", "Proprietary Data"),
    "unique_metadata_identifier": ("Unique Metadata Identifier", "Unique Identifier",
                                   "Metadata Identifier"),
    "dataset_summary": ("Dataset Summary", "Summary"),
}

# Labels of "**Label:** value" lines the fields may be given on.
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "curated_by": ("curated by", "curators"),
    "dataset_sources": ("repository", "repo"),
    "unique_metadata_identifier": ("unique metadata identifier", "unique identifier",
                                   "metadata identifier"),
    "dataset_issue_date": ("dataset issue date", "issue date"),
}

_COMMENT = re.compile(r"<!--[\s\S]*?(?:-->|\Z)")
_OPTIONAL = re.compile(r"[\[(]\s*optional\s*[\])]", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LABELLED_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(?:\*\*|__)[^*_\n]{1,60}?:?\s*(?:\*\*|__)")
_STOPWORDS = frozenset({"the", "a", "an", "of", "for", "and", "to", "is", "are", "was",
                        "were", "any", "this", "used", "in", "on", "s"})
_EMPHASIS = "*_`~ "


def normalise_words(title: str) -> tuple[str, ...]:
    """Lowercase significant words of a heading, with plural "s" dropped."""
    text = _LINK.sub(r"\1", _OPTIONAL.sub(" ", title)).lower().replace("&", " and ")
    words = []
    for word in _NON_WORD.sub(" ", text).split():
        if word in _STOPWORDS:
            continue
        if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
            word = word[:-1]
        words.append(word)
    return tuple(words)


@cache
def _alias_words(field: str) -> tuple[tuple[str, ...], ...]:
    return tuple(normalise_words(alias) for alias in FIELD_HEADINGS[field])


@lru_cache(maxsize=8192)
def heading_score(title_words: tuple[str, ...], field: str, fuzzy: bool = False) -> float:
    """How well a heading names ``field``: 1 exact, less for looser matches, 0 none.

    ``fuzzy`` also accepts a heading that is an alias with a typo; it is slower, so
    it is only tried when no heading matched otherwise.
    """
    best = 0.0
    heading = set(title_words)
    joined = " ".join(title_words)
    for rank, alias in enumerate(_alias_words(field)):
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
    """A heading and the text under it (HTML comments removed)."""

    level: int
    title: str
    words: tuple[str, ...]
    line: int
    own_text: str
    start: int
    full_end: int


@dataclass
class FieldValue:
    """Where a field was found and what it says ('' when empty)."""

    text: str
    line: int | None
    heading: str | None = None


@dataclass
class CardBody:
    """A parsed card body: its sections, the text before them, and its lines."""

    sections: list[Section]
    preamble: str
    lines: list[str]
    first_line: int
    _found: dict[str, Section | None] = field(default_factory=dict, repr=False)

    def find_section(self, field: str) -> Section | None:
        """The section whose heading best names ``field`` (first one on ties)."""
        if field not in self._found:
            self._found[field] = self._best(field, False) or self._best(field, True)
        return self._found[field]

    def subsection_text(self, section: Section, field: str) -> str:
        """Text of the sub-sections of ``section`` that are not another field's own."""
        index = self.sections.index(section)
        parts: list[str] = []
        for sub in self.sections[index + 1:]:
            if sub.level <= section.level:
                break
            if not any(heading_score(sub.words, other) for other in FIELD_HEADINGS
                       if other != field):
                parts.append(sub.own_text)
        return "\n\n".join(part for part in parts if part)

    def _best(self, field: str, fuzzy: bool) -> Section | None:
        best: tuple[float, Section] | None = None
        for section in self.sections:
            score = heading_score(section.words, field, fuzzy)
            if score > 0 and (best is None or score > best[0]):
                best = (score, section)
        return best[1] if best else None

    def find_labelled(self, field: str, within: Section | None = None) -> FieldValue | None:
        """A "**Label:** value" line, preferably inside ``within``."""
        pattern = _label_pattern(field)
        if within is not None:
            for index in range(within.start, within.full_end):
                found = pattern.match(self.lines[index])
                if found:
                    return FieldValue(clean_value(found.group("value")), self.first_line + index)
        for index, line in enumerate(self.lines):
            found = pattern.match(line)
            if found:
                return FieldValue(clean_value(found.group("value")), self.first_line + index)
        return None


@cache
def _label_pattern(field: str) -> re.Pattern[str]:
    labels = "|".join(r"[\s_-]+".join(map(re.escape, label.split()))
                      for label in FIELD_LABELS[field])
    emphasis = r"(?:\*\*|__|\*|_)?"
    return re.compile(
        rf"^\s*(?:>\s*)?(?:[-*+]\s+|\d+[.)]\s+)?{emphasis}\s*(?:{labels})\s*"
        rf"(?:\[\s*optional\s*\]|\(\s*optional\s*\))?\s*"
        rf"(?::\s*{emphasis}|{emphasis}\s*:)\s*(?P<value>.*)$",
        re.IGNORECASE)


def clean_value(text: str) -> str:
    """A field's text without surrounding emphasis, backticks or whitespace."""
    return text.strip().strip(_EMPHASIS).strip()


def strip_comments(text: str) -> str:
    """Blank out HTML comments, keeping line numbers where they were."""
    return _COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)


def without_labelled_items(text: str) -> str:
    """Text minus "- **Label:** value" list items (the description's fact list)."""
    return "\n".join(line for line in text.split("\n") if not _LABELLED_ITEM.match(line)).strip()


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark")


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
    """Split the Markdown body into sections by its top-level headings."""
    clean = strip_comments(body)
    lines = clean.split("\n")
    headings: list[tuple[int, str, int, int]] = []  # level, title, start, end (0-based lines)
    tokens = _markdown().parse(clean)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.map:
            title = tokens[index + 1].content if index + 1 < len(tokens) else ""
            headings.append((int(token.tag[1:]), title, token.map[0], token.map[1]))
    full_ends = _section_ends(headings, len(lines))
    sections: list[Section] = []
    for position, (level, title, start, end) in enumerate(headings):
        next_start = headings[position + 1][2] if position + 1 < len(headings) else len(lines)
        full_end = full_ends[position]
        sections.append(Section(
            level=level, title=title.strip(), words=normalise_words(title),
            line=first_line + start,
            own_text="\n".join(lines[end:next_start]).strip(), start=end, full_end=full_end))
    preamble_end = headings[0][2] if headings else len(lines)
    return CardBody(sections, "\n".join(lines[:preamble_end]).strip(), lines, first_line)
