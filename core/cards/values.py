"""Small value checks for Markdown fields: dates, personal-information values, "No"."""

from __future__ import annotations

import re
from datetime import date, datetime

_ISO = re.compile(
    r"^(?P<y>\d{4})[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})"
    r"(?:(?::?T|[ T])\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}:?\d{2})?)?(?=$|[\s,;.()])")
_WORDY_FORMATS = ("%d %B %Y", "%d %b %Y", "%B %d %Y", "%b %d %Y")
_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_ABBREVIATION = re.compile(r"\(([A-Z]{2,4})\)")


def first_line(text: str) -> str:
    """The first non-empty line, without list marker, emphasis or backticks."""
    for line in text.split("\n"):
        line = _LIST_MARK.sub("", line).strip().strip("*_`~ ").strip()
        if line:
            return line
    return ""


def parse_date(text: str) -> date | None:
    """A date at the start of ``text`` (ISO-like, or "1 May 2024" / "May 1, 2024")."""
    value = first_line(text)
    iso = _ISO.match(value)
    if iso:
        try:
            day = date(int(iso["y"]), int(iso["m"]), int(iso["d"]))
            if iso["H"] is not None:
                datetime(day.year, day.month, day.day, int(iso["H"]), int(iso["M"]),
                         int(iso["S"] or 0))
            return day
        except ValueError:
            return None
    candidate = " ".join(value.replace(",", " ").split()[:3])
    for fmt in _WORDY_FORMATS:
        try:
            return datetime.strptime(candidate, fmt).date()
        except ValueError:
            continue
    return None


def _value_patterns(allowed: list[str]) -> list[re.Pattern[str]]:
    patterns: list[re.Pattern[str]] = []
    for value in allowed:
        short = value.split("(")[0].strip()
        patterns.append(re.compile(rf"\b{re.escape(short)}\b", re.IGNORECASE))
        abbreviation = _ABBREVIATION.search(value)
        if abbreviation:
            patterns.append(re.compile(rf"\b{abbreviation.group(1)}\b"))
    return patterns


def uses_listed_value(text: str, allowed: list[str]) -> bool:
    """Whether the text names at least one of the listed values (full, short or abbreviated)."""
    return any(pattern.search(text) for pattern in _value_patterns(allowed))


def is_bare_other(text: str) -> bool:
    """ "Other" given without saying what the other kind of information is."""
    words = re.sub(r"[^a-z]+", " ", text.lower()).split()
    return words in (["other"], ["other", "please", "specify"])


def says_no(text: str) -> bool:
    """Whether a field's answer is "No" (any case, maybe with an explanation after)."""
    words = re.sub(r"[^a-z]+", " ", first_line(text).lower()).split()
    return bool(words) and words[0] in ("no", "none", "false")
