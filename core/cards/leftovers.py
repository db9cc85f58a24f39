"""Template leftovers: text an author was meant to replace and did not.

One list for every kind the check reports as "still says X from the template": the
placeholders of the OTDI and Hugging Face templates (``[More Information Needed]``,
``[Needs More Information]``...), unrendered Jinja (``{{ dataset_summary | default(...) }}``,
``{% if %}``), ``{ name }`` fields of the OTDI site's 2024 template, and the templates'
guidance sentences (``_A quick summary of the dataset and its purpose._``). The words
come from ``spec.yaml``; this module only finds them, in time linear in the text.
"""

from __future__ import annotations

import re
from functools import cache

from core.spec import CARD_TEMPLATE_PATH, card_requirements

_JINJA = re.compile(r"\{\{[^\n]{0,300}?\}\}|\{%[^\n]{0,300}?%\}")
_FIELD = re.compile(r"\{\s*([A-Za-z][A-Za-z0-9_]{0,60})\s*(?:[,|][^{}\n]{0,160})?\}")
# An italic example the template puts after a field: "_e.g., https://huggingface.co/..._".
_EXAMPLE_HINT = re.compile(r"(?<![\w*])([_*])e\.g\.,?\s[^\n]{0,200}?(?:\1(?![\w*])|$)",
                           re.MULTILINE)
_TEMPLATE_VARIABLE = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)")
_WORDS = re.compile(r"[^0-9a-z]+")
_MARKS = "*_`~ >-+"
_CODE = re.compile(r"^ {0,3}(`{3,}|~{3,})[^\n]*\n(?:[\s\S]*?\n {0,3}\1[`~]*[ \t]*(?=\n|$)|[\s\S]*)"
                   r"|`[^`\n]{1,200}`", re.MULTILINE)


def without_code(text: str) -> str:
    """``text`` with code blocks and code spans blanked (their braces are no template)."""
    return _CODE.sub(lambda m: "\n" * m.group(0).count("\n"), text)


@cache
def _placeholders() -> tuple[tuple[str, str], ...]:
    """(lower-case form, form shown) of each placeholder, longest first."""
    forms = [str(p) for p in card_requirements()["placeholders"]]
    return tuple(sorted(((form.lower(), form) for form in forms), key=lambda f: -len(f[0])))


@cache
def _placeholder_pattern() -> re.Pattern[str]:
    """The placeholders, any case, inner spaces free (``[More information needed ]``)."""
    parts = []
    for lowered, _shown in _placeholders():
        words = lowered.strip("[]").split()
        parts.append(r"\[\s*" + r"\s+".join(map(re.escape, words)) + r"\s*\]")
    # The Hugging Face cards often link the placeholder: [More Information Needed](https://...)
    return re.compile("(?:" + "|".join(parts) + r")(?:\([^()\s]{0,500}\))?", re.IGNORECASE)


@cache
def template_variables() -> frozenset[str]:
    """Names a ``{ name }`` field may carry: the template's variables and the OTDI fields."""
    spec = card_requirements()
    names = set(_TEMPLATE_VARIABLE.findall(CARD_TEMPLATE_PATH.read_text(encoding="utf-8")))
    names.update(spec["markdown_required"], spec["markdown_optional"])
    return frozenset(names)


def _is_field(name: str) -> bool:
    return "_" in name or name.lower() in template_variables()


def kept_braces(value: object) -> str | None:
    """The value a person wrote inside the template's braces (``{mit}``, ``{Ocean Data}``),
    which YAML reads as a one-key mapping; None for anything else, and for ``{title}``,
    which is the template's own placeholder (``yaml_leftover``)."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if inner is None and isinstance(key, str | int | float) and str(key).strip() \
                and yaml_leftover(value) is None:
            return str(key).strip()
    return None


_KEPT_LINE = re.compile(r"^[ \t]*(?:-[ \t]+)?(?:([\w-]+):[ \t]+)?\{([^{}:#\n]+)\}[ \t]*(?:#.*)?$",
                        re.MULTILINE)


def kept_braces_lines(block: str, limit: int = 3) -> list[tuple[str, str]]:
    """Lines of a front-matter block whose filled-in value kept the template's braces:
    (as written, as it should be), e.g. ("license: {mit}", "license: mit")."""
    found: list[tuple[str, str]] = []
    for match in _KEPT_LINE.finditer(block):
        key, value = match.group(1), match.group(2).strip()
        if not value or _is_field(value):
            continue  # {license_link}: the template's placeholder, not a value
        written = f"{key}: {{{value}}}" if key else f"- {{{value}}}"
        found.append((written, f"{key}: {value}" if key else f"- {value}"))
    return sorted(found, key=lambda pair: pair[0].startswith("- "))[:limit]  # keys first


def yaml_leftover(value: object) -> str | None:
    """The leftover a front-matter value still is: ``"[More Information Needed]"``, or
    ``{title}``, which YAML reads as a one-key mapping."""
    if isinstance(value, dict) and len(value) == 1:
        key, inner = next(iter(value.items()))
        if inner is None and isinstance(key, str) and re.fullmatch(r"[A-Za-z][\w]*", key) \
                and _is_field(key):
            return "{" + key + "}"
        return None
    if isinstance(value, str):
        found = find_leftovers(value, guidance=False)
        if found and not strip_leftovers(value, guidance=False).strip(" \t\n.,;:-"):
            return found[0]
    return None


def normalise(text: str) -> str:
    """Lower-case words only, for comparing guidance sentences."""
    return " ".join(_WORDS.sub(" ", text.lower()).split())


@cache
def _guidance() -> dict[str, str]:
    """Normalised guidance sentence -> the sentence as the template writes it."""
    return {normalise(text): str(text) for text in card_requirements()["template_guidance"]}


def _shown(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _guidance_in(paragraph: str) -> str | None:
    key = normalise(paragraph.strip().strip(_MARKS))
    if not key:
        return None
    found = _guidance().get(key)
    if found is None and len(key) > 40:
        # A guidance sentence the author wrote more after, or cut at its first sentence.
        for sentence, shown in _guidance().items():
            if len(sentence) > 30 and (key.startswith(sentence) or sentence.startswith(key)):
                return shown
    return found


def find_leftovers(text: str, guidance: bool = True) -> list[str]:
    """Each template leftover in ``text``, as it is shown to people, in order found."""
    text = without_code(text)
    found: list[str] = []
    for match in _placeholder_pattern().finditer(text):
        found.append(_canonical_placeholder(match.group(0)))
    found.extend(_shown(match.group(0)) for match in _JINJA.finditer(text))
    found.extend(_shown(match.group(0)) for match in _EXAMPLE_HINT.finditer(text))
    without_jinja = _JINJA.sub(" ", text)
    found.extend(_shown(match.group(0)) for match in _FIELD.finditer(without_jinja)
                 if _is_field(match.group(1)))
    for paragraph in _paragraphs(text) if guidance else ():
        sentence = _guidance_in(paragraph)
        if sentence is not None:
            found.append(_shown(sentence))
    return found


def _canonical_placeholder(text: str) -> str:
    text = text[: text.index("]") + 1] if "]" in text else text
    key = "[" + " ".join(text.strip("[] \t").lower().split()) + "]"
    return next((shown for lowered, shown in _placeholders() if lowered == key), text)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, and each line of them (guidance sits on one line)."""
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        pieces.append(paragraph)
        if "\n" in paragraph:
            pieces.extend(paragraph.split("\n"))
    return pieces


def strip_leftovers(text: str, guidance: bool = True) -> str:
    """``text`` with every template leftover removed (what the author really wrote)."""
    text = _placeholder_pattern().sub(" ", text)
    text = _JINJA.sub(" ", text)
    text = _EXAMPLE_HINT.sub(" ", text)
    text = _FIELD.sub(lambda m: " " if _is_field(m.group(1)) else m.group(0), text)
    if not guidance:
        return text
    kept = []
    for paragraph in re.split(r"(\n\s*\n)", text):
        if _guidance_in(paragraph) is not None:
            continue
        lines = paragraph.split("\n")
        kept.append("\n".join(line for line in lines if _guidance_in(line) is None))
    return "".join(kept)
