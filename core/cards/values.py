"""Small value checks for Markdown fields: dates, personal-information values, "No".

Authors write dates at the precision they know ("2021", "July 2021", "01/07/2021")
and answer yes/no questions in sentences ("The dataset does not include any personal
information."); these helpers read such answers by meaning rather than by form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_ABBREVIATION = re.compile(r"\(([A-Z]{2,4})\)")
_MONTHS = {name: number for number, names in enumerate((
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
    ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
    ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
    ("december", "dec")), start=1) for name in names}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_ISO = re.compile(
    r"(?<![\d/.-])(?P<y>(?:1[6-9]|2[0-1])\d\d)(?:-(?P<m>\d\d)(?:-(?P<d>\d\d))?)?"
    r"(?:(?::?T|[ T])\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.\d+)?)?"
    r"\s*(?:Z|UTC|[+-]\d{2}:?\d{2})?)?(?![\d/.-]*\d)")
_SLASHED_YMD = re.compile(r"(?<![\d/.-])(?P<y>\d{4})[/.](?P<m>\d{1,2})[/.](?P<d>\d{1,2})(?![\d/.])")
_SLASHED_DMY = re.compile(
    r"(?<![\d/.-])(?P<a>\d{1,2})[/.-](?P<b>\d{1,2})[/.-](?P<y>\d{4})(?![\d/.])")
_YEAR_MONTH_SLASH = re.compile(r"(?<![\d/.-])(?P<y>\d{4})/(?P<m>\d{1,2})(?![\d/.])")
_MONTH_YEAR_SLASH = re.compile(r"(?<![\d/.-])(?P<m>\d{1,2})/(?P<y>\d{4})(?![\d/.])")
_WORDY_DMY = re.compile(rf"(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+"
                        rf"(?P<y>\d{{4}})(?!\d)", re.IGNORECASE)
_WORDY_MDY = re.compile(rf"\b{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})(?!\d)",
                        re.IGNORECASE)
_WORDY_MY = re.compile(rf"\b{_MONTH},?\s+(?P<y>\d{{4}})(?!\d)", re.IGNORECASE)

_NEGATIONS = re.compile(
    r"^\s*(?:no|none|nothing|nope|n/?a|false|not applicable|not relevant|nil|null)\b"
    r"|\b(?:does|do|did|will|should|would|can|could)\s*(?:not|n't)\b"
    r"|\b(?:doesn't|don't|didn't|isn't|aren't|wasn't|weren't|won't|cannot|can't)\b"
    r"|\b(?:is|are|was|were|has|have|had)\s+(?:not|no|never)\b"
    r"|\b(?:contains?|containing|includes?|including|holds?|has|have|there\s+(?:is|are))"
    r"\s+no\b"
    r"|\bno\s+(?:\w+\s+){0,4}(?:data|information|pii|phi|content|records?)\b"
    r"|\b(?:free\s+(?:of|from)|without\s+any|devoid\s+of|none\s+of)\b"
    r"|\bnot\s+applicable\b|\bn/a\b",
    re.IGNORECASE)
_YES = re.compile(r"^\s*(?:yes|true|y)\b", re.IGNORECASE)


@dataclass(frozen=True)
class DateFound:
    """A date read from a field: the ISO form of what it says, and whether it was ISO."""

    iso: str
    was_iso: bool
    ambiguous: bool = False
    alternative: str | None = None


def first_line(text: str) -> str:
    """The first non-empty line, without list marker, emphasis or backticks."""
    for line in text.split("\n"):
        line = _LIST_MARK.sub("", line).strip().strip("*_`~ ").strip()
        if line:
            return line
    return ""


def _valid(year: int, month: int = 1, day: int = 1) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _iso_date(text: str) -> DateFound | None:
    for match in _ISO.finditer(text):
        year, month, day = int(match["y"]), match["m"], match["d"]
        if not _valid(year, int(month or 1), int(day or 1)):
            return None
        if match["H"] is not None:
            try:
                datetime(year, int(month or 1), int(day or 1), int(match["H"]), int(match["M"]),
                         int(match["S"] or 0))
            except ValueError:
                return None
        return DateFound(match.group(0).strip(), True)
    return None


def find_date(text: str) -> DateFound | None:
    """The first date in the field's first lines, at any common precision, or None.

    ISO forms (``2021``, ``2021-07``, ``2021-07-01``, with a time) count as ISO; the
    others ("July 2021", "1 July 2021", "01/07/2021", "2021/07/01") are read and given
    in ISO form so the report can suggest it. A day/month order that cannot be told
    ("01/07/2021") is marked ambiguous, with both readings.
    """
    head = " ".join(text.split("\n")[:5])
    head = head.replace("*", " ").replace("`", " ").replace("_", " ")
    candidates: list[tuple[int, DateFound]] = []
    iso = _iso_date(head)
    if iso is not None:
        position = head.find(iso.iso)
        candidates.append((position, iso))
    for match in _SLASHED_YMD.finditer(head):
        y, m, d = int(match["y"]), int(match["m"]), int(match["d"])
        if _valid(y, m, d):
            candidates.append((match.start(), DateFound(f"{y:04d}-{m:02d}-{d:02d}", False)))
            break
    for match in _SLASHED_DMY.finditer(head):
        a, b, y = int(match["a"]), int(match["b"]), int(match["y"])
        day_first = _valid(y, b, a)
        month_first = _valid(y, a, b)
        if day_first and month_first and a != b:
            candidates.append((match.start(), DateFound(
                f"{y:04d}-{b:02d}-{a:02d}", False, True, f"{y:04d}-{a:02d}-{b:02d}")))
        elif day_first or month_first:
            m, d = (b, a) if day_first else (a, b)
            candidates.append((match.start(), DateFound(f"{y:04d}-{m:02d}-{d:02d}", False)))
        break
    for pattern, has_day in ((_WORDY_DMY, True), (_WORDY_MDY, True), (_WORDY_MY, False)):
        for match in pattern.finditer(head):
            y, m = int(match["y"]), _MONTHS[match["month"].lower()]
            d = int(match["d"]) if has_day else 1
            if _valid(y, m, d):
                iso_text = f"{y:04d}-{m:02d}-{d:02d}" if has_day else f"{y:04d}-{m:02d}"
                candidates.append((match.start(), DateFound(iso_text, False)))
                break
    for pattern in (_YEAR_MONTH_SLASH, _MONTH_YEAR_SLASH):
        for match in pattern.finditer(head):
            y, m = int(match["y"]), int(match["m"])
            if _valid(y, m):
                candidates.append((match.start(), DateFound(f"{y:04d}-{m:02d}", False)))
                break
    if not candidates:
        return None
    # The earliest date in the text; a fuller reading wins when two start together.
    candidates.sort(key=lambda item: (item[0], -len(item[1].iso)))
    return candidates[0][1]


def parse_date(text: str) -> date | None:
    """A date in ``text`` as a ``date`` (the first day of a month or year given alone)."""
    found = find_date(text)
    if found is None:
        return None
    digits = re.match(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", found.iso)
    if digits is None:
        return None
    return date(int(digits[1]), int(digits[2] or 1), int(digits[3] or 1))


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
    """Whether a field's answer means "no": "No", "None", "N/A", "not applicable", or a
    sentence that denies ("The dataset does not include any ...", "contains no ...")."""
    line = first_line(text)
    if not line or _YES.match(line):
        return False
    return bool(_NEGATIONS.search(line))


def says_yes(text: str) -> bool:
    """Whether a field's answer starts with "Yes" (or "true")."""
    return bool(_YES.match(first_line(text)))
