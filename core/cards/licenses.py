"""Recognise a license written as a Hub id or as a name ("Apache License, Version 2.0").

Used to tell whether ``license_name`` agrees with ``license`` and to suggest the
right id when a contributor wrote a name or the wrong case in ``license``.
"""

from __future__ import annotations

import re
from functools import cache

from core.spec import permissive_licenses

# Long names folded to the short words their ids use, before comparing word lists.
_PHRASES: tuple[tuple[str, str], ...] = (
    ("community data license agreement", "cdla"),
    ("creative commons attribution", "cc by"),
    ("creative commons zero", "cc0"),
    ("creative commons", "cc"),
    ("open data commons attribution", "odc by"),
    ("public domain dedication and license", "pddl"),
    ("academic free", "afl"),
    ("educational community", "ecl"),
    ("microsoft public", "ms pl"),
    ("etalab open", "etalab"),
)
_NOISE = frozenset({"the", "license", "licence", "version", "v", "international", "public",
                    "agreement", "universal", "english", "and"})
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?$")


def canonical(name: str) -> tuple[str, ...]:
    """Words of a license id or name, lower-cased, with versions as "2.0"."""
    text = name.lower().replace("&", " and ").replace("–", " ").replace("—", " ")
    text = re.sub(r"[^0-9a-z.]+", " ", text)
    text = re.sub(r"(?<=[a-z])\.|\.(?=\s|$)", " ", text)
    text = " ".join(text.split())
    for phrase, short in _PHRASES:
        text = text.replace(phrase, short)
    words: list[str] = []
    for word in text.split():
        version = _VERSION.match(word)
        if version:
            words.append(f"{version.group(1)}.{version.group(2) or '0'}")
        elif word not in _NOISE:
            words.append(word)
    return tuple(words)


def _without_versions(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(word for word in words if not _VERSION.match(word) and not word[0].isdigit())


@cache
def _forms() -> dict[str, set[tuple[str, ...]]]:
    forms: dict[str, set[tuple[str, ...]]] = {}
    for key, info in permissive_licenses().items():
        forms[key] = {canonical(key), canonical(str(info.get("name", key)))}
    return forms


def identify(name: str) -> str | None:
    """The permissive license id that ``name`` names, if exactly one fits."""
    words = canonical(name)
    if not words:
        return None
    exact = [key for key, forms in _forms().items() if words in forms]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    if any(word[0].isdigit() for word in words):
        return None
    loose = [key for key, forms in _forms().items()
             if any(_without_versions(form) == words for form in forms)]
    return loose[0] if len(loose) == 1 else None


def agrees(license_id: str, license_name: str) -> bool:
    """Whether ``license_name`` names ``license_id`` (or names no version at all of it)."""
    words = canonical(license_name)
    forms = _forms().get(license_id, set())
    if words in forms:
        return True
    if any(word[0].isdigit() for word in words):
        return False
    return bool(words) and any(_without_versions(form) == words for form in forms)
