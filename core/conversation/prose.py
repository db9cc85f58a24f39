"""Reading a sentence for the form's fields: what a contributor wrote in prose.

"Hi! My dataset is called Coral Reef Images and you can find it at
http://example.org/coral" names a dataset and its location without any ``name:``
label. This module finds such *candidates*; it decides nothing. The conversation shows
them back in one question and stores them only when the contributor says yes.

Links and e-mail addresses are found with **linkify-it-py** (the executablebooks port
of linkify-it, the link finder of markdown-it, whose Python port we already use for
cards): maintained, pure Python, offline (its top-level domain list ships in the
package, nothing is downloaded at run time), and it finds links without a scheme
("example.org/coral") and addresses anywhere in a sentence, with the trailing
punctuation of the sentence left out. ``urlextract`` was the other candidate; it keeps
a TLD cache in the user's directories and can refresh it from the network.

Pure functions of the text, linear in its length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from functools import cache

from linkify_it import LinkifyIt

from core.fields import domains_in, modalities_in

MAX_PROSE_CHARS = 5_000  # an intro, a correction; a long e-mail is read by its labels
NAME_WORDS = 12

# Slack writes links as <https://x|label> and addresses as <mailto:a@b.org|a@b.org>.
_SLACK_LINK = re.compile(r"<((?:https?://|mailto:)[^<>|\s]+)(?:\|[^<>]*)?>", re.IGNORECASE)
_CARD_FILE = re.compile(r"(?:readme|\.md|\.markdown|\.txt)$", re.IGNORECASE)
_NAME_MARKER = re.compile(
    r"\b(?:(?:is|it's|its|it is|was|be|been|dataset|data set|data|set)\s+)?"
    r"(?:called|named|titled|entitled)\s+"
    r"|\b(?:the\s+|its\s+|it's\s+|our\s+|my\s+)?(?:dataset\s+)?(?:name|title)\s+(?:is|=)\s+",
    re.IGNORECASE)
# Where a name written after "called" stops.
_NAME_END = re.compile(
    r"\s+(?:and|which|that|at|on|from|in|under|but|you|it|hosted|located|"
    r"available|can|is|was|see|here|lives)\b|[,;!?()\[\]\n]|\.(?:\s|$)|\s[-\u2013\u2014]\s|$",
    re.IGNORECASE)
_QUOTED = re.compile(r"[\"\u201c\u201e\u00ab]([^\"\u201c\u201d\u201e\u00ab\u00bb\n]{2,200})"
                     r"[\"\u201d\u00bb]")
# The start of a line before "X, https://..." that is a sentence, not a name.
_NOT_A_NAME = re.compile(
    r"^(?:hi|hello|hey|dear|thanks|thank you|ok|okay|yes|no|sure|oops|sorry|here|it|its|"
    r"it's|this|that|see|the link|link|url|location|my|our|we|i|you|please|also|and|"
    r"so|actually|wait|oh|ah|well|found|at|right|correct|well)\b", re.IGNORECASE)
# "our dataset Ocean Temps (https://...)", "the dataset Reef Watch, at ...": a title-case
# name right after "dataset", ending where the sentence or a bracket does.
_DATASET_TITLE = re.compile(
    r"\b(?:our|my|the|this)\s+(?:new\s+)?(?:dataset|data set|corpus)\s+"
    r"(?P<name>[A-Z0-9][\w'-]*(?:\s+(?:[A-Z0-9][\w'-]*|of|and|for|the|de|in))*?)"
    r"(?=\s*(?:[(,;:!?]|\.(?:\s|$)|$|\s+(?:at|on|is|was|which|that|from|under|in\s+the)\b))")
# A listed domain named as the domain: "marine domain", "the domain is Legal", "domain: X".
_DOMAIN_BEFORE = re.compile(r"\b[\w-]+(?:\s+[\w-]+)?\s+domain\b", re.IGNORECASE)
_DOMAIN_AFTER = re.compile(r"\bdomain(?:\s+is|\s*[:=]|\s+of)?\s+[\w-]+(?:\s+[\w-]+)?",
                           re.IGNORECASE)
_GREETING_HEAD = re.compile(r"^\s*(?:hi|hello|hey|dear|good \w+)\b[^,\n]*,\s*", re.IGNORECASE)

_HOST_SELF = re.compile(
    r"\b(?:we|i)(?:'ll|'d| will| would| can| prefer to| want to| like to)?\s+(?:rather\s+)?"
    r"keep\s+(?:it|them|hosting|the data|the dataset|our|my)\b"
    r"|\bhost(?:ing)?\s+it\s+(?:ourselves|myself)\b|\bself[- ]?host"
    r"|\bkeep\s+(?:our|my)\s+own\b|\b(?:don't|do not|no need to|not)\s+host\b"
    r"|\b(?:we|i)(?:'ll| will)?\s+host\s+it\b",
    re.IGNORECASE)
_HOST_ALLIANCE = re.compile(
    r"\b(?:you|the alliance|ai alliance|otdi)\b[^.!?\n]{0,30}\bhost\b|\bplease\s+host\b"
    r"|\bhost\s+it\b",
    re.IGNORECASE)


@dataclass(frozen=True)
class Candidates:
    """What a sentence seems to say for each field, as text for that field's parser."""

    name: str | None = None
    location: str | None = None  # as written: the parser turns http:// into a suggestion
    hosting: str | None = None  # "alliance" or "self"
    card: str | None = None  # a link to a card file (…/README.md)
    modalities: str | None = None  # the labels found, comma-separated
    domain: str | None = None  # one listed domain
    email: str | None = None

    def found(self) -> dict[str, str]:
        """The candidates that were found, by field, in the form's order."""
        return {f.name: value for f in fields(self)
                if (value := getattr(self, f.name)) is not None}


@cache
def _linkify() -> LinkifyIt:
    return LinkifyIt()


def _clean_name(text: str) -> str | None:
    name = text.strip().strip("\"'\u201c\u201d\u2018\u2019\u00ab\u00bb*_`").strip()
    name = name.rstrip(".,;:!?").strip()
    if not name or len(name) > 200 or len(name.split()) > NAME_WORDS:
        return None
    if not any(ch.isalnum() for ch in name):
        return None
    return name


def _name_after_marker(text: str) -> tuple[str, tuple[int, int]] | None:
    for marker in _NAME_MARKER.finditer(text):
        rest = text[marker.end():]
        quoted = _QUOTED.match(rest)
        if quoted:
            name = _clean_name(quoted.group(1))
            span = (marker.start(), marker.end() + quoted.end())
        else:
            end = _NAME_END.search(rest)
            cut = end.start() if end else len(rest)
            name = _clean_name(rest[:cut])
            span = (marker.start(), marker.end() + cut)
        if name:
            return name, span
    return None


def _name_before_link(text: str, link_start: int) -> tuple[str, tuple[int, int]] | None:
    """``Coral Reef Images, https://...``: a short line-opening phrase, then the link."""
    line_start = text.rfind("\n", 0, link_start) + 1
    head = text[line_start:link_start]
    head = _GREETING_HEAD.sub("", head, count=1)
    match = re.match(r"^\s*(.+?)\s*(?:,|:|\s[-\u2013\u2014]|\()\s*$", head)
    if not match or _NOT_A_NAME.match(match.group(1)):
        return None
    name = _clean_name(match.group(1))
    if name is None or len(name.split()) > 8:
        return None
    start = link_start - len(head) + match.start(1)
    return name, (start, start + len(match.group(1)))


def read_prose(text: str) -> Candidates:
    """The field candidates in ``text``; empty when it says nothing recognisable."""
    text = _SLACK_LINK.sub(lambda m: m.group(1), text[:MAX_PROSE_CHARS])
    text = re.sub(r"\bmailto:", "", text, flags=re.IGNORECASE)
    spans: list[tuple[int, int]] = []  # what is taken, so its words are not read again
    location = card = email = None
    first_link = -1
    for match in _linkify().match(text) or []:
        spans.append((match.index, match.last_index))
        if match.schema == "mailto:":
            email = email or match.raw
            continue
        if match.schema not in ("http:", "https:", ""):
            continue
        path = match.raw.split("?", 1)[0].split("#", 1)[0].rstrip("/")
        if _CARD_FILE.search(path) and "/" in path.split("//", 1)[-1]:
            card = card or match.raw
        elif location is None:
            location, first_link = match.raw, match.index
    name = None
    found = _name_after_marker(text)
    if found is None:
        quoted = _QUOTED.search(text)
        if quoted and "://" not in quoted.group(1):
            cleaned = _clean_name(quoted.group(1))
            found = (cleaned, quoted.span()) if cleaned else None
    if found is None and first_link >= 0:
        found = _name_before_link(text, first_link)
    if found is None:
        titled = _DATASET_TITLE.search(text)  # "our dataset Ocean Temps (https://...)"
        if titled:
            cleaned = _clean_name(titled.group("name"))
            found = (cleaned, titled.span("name")) if cleaned else None
    if found is not None:
        name = found[0]
        spans.append(found[1])
    rest = text
    for start, end in sorted(spans, reverse=True):
        rest = rest[:start] + " " + rest[end:]
    hosting = None
    if _HOST_SELF.search(rest):
        hosting = "self"
    elif _HOST_ALLIANCE.search(rest):
        hosting = "alliance"
    modalities = modalities_in(rest)
    domains = domains_in(rest)
    if len(domains) > 1:  # "text and time series, marine domain": the one called a domain
        snippets = [m.group(0) for pattern in (_DOMAIN_BEFORE, _DOMAIN_AFTER)
                    for m in pattern.finditer(rest)]
        tagged = domains_in(" ; ".join(snippets))
        domains = tagged if len(tagged) == 1 else domains
    return Candidates(name=name, location=location, hosting=hosting, card=card,
                      modalities=", ".join(modalities) or None,
                      domain=domains[0] if len(domains) == 1 else None, email=email)
