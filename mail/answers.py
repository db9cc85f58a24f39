"""E-mail habits around ``Key: value`` lines, smoothed before the core reads them.

Labels copied from the OTDI form that the core does not know are renamed, and the
habits of people who type a list rather than a form are written as ``Key: value``: a
numbered or bulleted line ("1. Name: X", "2) URL: Y", "• Domain: Z") and a dash for the
colon ("Dataset name - X"). In a message, a value ends with its line: prose after the
lines ("The card is attached.", "Best, Ada") is not part of the last value, but it is
kept on its own lines, since a sentence may answer what no label does. A value may sit on
the line below an empty key. Empty ``Key:`` lines are our own reply's form left unfilled,
except the card's: in the OTDI site's mailto message an empty ``dataset-card:`` means "the
README at the dataset's location".
"""

from __future__ import annotations

import re

from core.conversation.interpret import FIELD_ALIASES

# Labels only e-mail writers use, rewritten to one the core knows before the text is
# handed over (the form's own labels are in the core's FIELD_ALIASES).
MAIL_LABELS: dict[str, str] = {}
_LABELS = {**{alias: alias for alias in FIELD_ALIASES}, **MAIL_LABELS}
_ALIASES = "|".join(re.escape(alias).replace(r"\ ", r"[ \t]+")
                    for alias in sorted(_LABELS, key=len, reverse=True))
_PAIR_LINE = re.compile(rf"^[ \t*_>-]*({_ALIASES})[ \t*_]*[:=](.*)$", re.IGNORECASE)
# A list marker before the label ("1.", "2)", "(3)", "a)", "•", "–"), or a dash for the
# colon: rewritten as the plain ``Key: value`` line the core reads.
_LISTED_LINE = re.compile(
    rf"^[ \t]*(?:\(?\d{{1,2}}[.)]|[a-h][.)]|[•·▪◦‣–—*-])?[ \t*_]*({_ALIASES})[ \t*_]*"
    rf"(?:[:=：]|[ \t]+[-–—][ \t]+)(.*)$", re.IGNORECASE)


def _field(label: str) -> str:
    label = re.sub(r"\s+", " ", label.lower())
    return FIELD_ALIASES.get(label) or MAIL_LABELS[label]


def field_of(line: str) -> tuple[str, str] | None:
    """(field, value) when the line is a ``Key: value`` line, however it is listed."""
    match = _PAIR_LINE.match(line) or _LISTED_LINE.match(line)
    if not match:
        return None
    return _field(match.group(1)), match.group(2).strip()


def _canonical(line: str) -> str:
    """A line with a label only e-mail knows, or a listed one, as the core's ``Key: value``."""
    match = _PAIR_LINE.match(line)
    if match is None:
        listed = _LISTED_LINE.match(line)
        assert listed is not None
        return f"{_field(listed.group(1))}: {listed.group(2).strip()}"
    if re.sub(r"\s+", " ", match.group(1).lower()) in FIELD_ALIASES:
        return line
    return f"{_field(match.group(1))}:{match.group(2)}"  # a field's name is an alias too


def has_pairs(text: str) -> bool:
    return any(field_of(line) for line in text.split("\n"))


def tidy_answers(text: str) -> str:
    """The ``Key: value`` lines (a value on the line under its key joined to it), empty
    keys dropped, and the other lines kept as they are; the text as is without keys."""
    lines = text.split("\n")
    if not any(field_of(line) for line in lines):
        return text
    kept: list[str] = []
    waiting = False  # the last key line had no value: the next line may hold it
    for line in lines:
        pair = field_of(line)
        if pair is not None:
            field, value = pair
            if value or field == "card":
                kept.append(_canonical(line))
                waiting = False
            else:
                waiting = True
                pending = _canonical(line)
        elif waiting and line.strip():
            kept.append(f"{pending.rstrip()} {line.strip()}")
            waiting = False
        else:
            waiting = False
            if line.strip() or (kept and kept[-1]):
                kept.append(line)
    return "\n".join(kept).strip("\n")
