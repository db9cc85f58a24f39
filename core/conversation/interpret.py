"""Reading what a contributor typed: commands, ``key: value`` pairs, numbered choices.

Pure text functions, so they can be tested alone and reused by every channel.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_TEXT_CHARS = 20_000

# Zero-width and bidirectional controls: invisible, and a way to disguise a name.
_INVISIBLE = dict.fromkeys(
    [0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2060, 0xFEFF, *range(0x202A, 0x202F),
     *range(0x2066, 0x206A)]
)

FIELD_ALIASES: dict[str, str] = {
    "name": "name", "dataset name": "name", "dataset-name": "name", "dataset_name": "name",
    "title": "name", "dataset title": "name",
    "location": "location", "dataset location": "location", "url": "location",
    "dataset url": "location", "dataset-url": "location", "dataset_url": "location",
    "link": "location", "dataset link": "location", "homepage": "location",
    "hosting": "hosting", "host": "hosting", "alliance hosting": "hosting",
    "card": "card", "dataset card": "card", "dataset-card": "card", "dataset_card": "card",
    "readme": "card", "card url": "card",
    "modalities": "modalities", "modality": "modalities", "data modalities": "modalities",
    "domain": "domain", "domain suggestion": "domain", "your domain suggestion": "domain",
    "email": "email", "e-mail": "email", "e mail": "email", "contact": "email",
    "contact email": "email", "contact e-mail": "email", "mail": "email",
    "consent": "consent", "terms": "consent", "i agree": "consent", "agree": "consent",
    "i agree to the terms for contribution": "consent",
    # the labels of the OTDI form, and the ways people write them by habit
    "i want the ai alliance to host this dataset": "hosting",
    "hosted by the ai alliance": "hosting",
    "email address": "email", "e-mail address": "email", "your email": "email",
    "your e-mail": "email", "contact email address": "email", "contact e-mail address": "email",
    "dataset card url": "card", "dataset card link": "card", "card link": "card",
    "link to the dataset card": "card", "dataset domain": "domain", "domain specialty": "domain",
    "dataset modalities": "modalities", "i agree to the terms": "consent", "agreement": "consent",
}

_KEY_PATTERN = "|".join(
    re.escape(alias).replace(r"\ ", r"[ \t]+") for alias in
    sorted(FIELD_ALIASES, key=len, reverse=True)
)
# A key starts a line, or follows a comma/semicolon; its value runs to the next key.
_PAIR_RE = re.compile(rf"(?:^|[,;\n])[ \t*_>-]*({_KEY_PATTERN})[ \t*_]*[:=]", re.IGNORECASE)
# Inside a pair's value, a further key after a space ("name: X url: Y" on one line).
_INLINE_KEY_RE = re.compile(rf"[ \t]+({_KEY_PATTERN})[ \t]*:(?=[ \t]|$|https?://)",
                            re.IGNORECASE)

COMMANDS: dict[str, str] = {
    "help": "help", "?": "help", "commands": "help", "what can i say": "help",
    "status": "status", "where am i": "status", "progress": "status",
    "summary": "summary", "show summary": "summary", "show me the summary": "summary",
    "cancel": "cancel", "abort": "cancel", "quit": "cancel", "stop": "cancel",
    "restart": "restart", "start over": "restart", "reset": "restart",
    "start again": "restart", "new": "restart", "new submission": "restart",
    "withdraw": "withdraw", "withdraw it": "withdraw", "withdraw my submission": "withdraw",
    "undo": "undo", "undo that": "undo", "undo it": "undo", "take that back": "undo",
    "take it back": "undo", "revert": "undo", "revert that": "undo", "undo the cancel": "undo",
    "undo cancel": "undo",
    # Not now: the question goes to the end of the list (every field is still needed).
    "skip": "skip", "skip it": "skip", "skip this": "skip", "skip that": "skip",
    "later": "skip", "ask me later": "skip", "come back to it later": "skip", "pass": "skip",
    "next": "skip", "next question": "skip", "i don't know": "skip", "i dont know": "skip",
    "don't know": "skip", "dont know": "skip", "idk": "skip", "not sure": "skip",
    "i'm not sure": "skip", "im not sure": "skip", "no idea": "skip", "dunno": "skip",
}

_CHANGE_RE = re.compile(
    r"^(?:(?:please|can you|could you|let's|lets|i'd like to|i want to)\s+)?"
    r"(?:change|edit|update|fix|correct|set|make|modify|replace)\s+(?:the\s+|my\s+|our\s+)?"
    rf"({_KEY_PATTERN})(?:\s*(?:to\s+be|to|:|=|->|be|into|with)\s*(?P<value>.+)|"
    r"\s+(?P<bare>[^\s].*))?$",
    re.IGNORECASE | re.DOTALL,
)
_NUMBERS_RE = re.compile(r"^\s*\d{1,3}(?:\s*(?:,|and|&|\s)\s*\d{1,3})*\s*$")


def clean_text(text: str) -> str:
    """Drop control and invisible characters (keeping newlines and tabs) and cap the length."""
    text = text[:MAX_TEXT_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    text = text.translate(_INVISIBLE)
    return "".join(
        ch for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs", "Co", "Cn")
    ).strip()


def normalise(text: str) -> str:
    """Lower-case, single spaces, no surrounding punctuation: for matching short answers."""
    text = re.sub(r"\s+", " ", text.lower()).strip()
    return text.strip(" .!,;:\"'`*_")


def command_of(text: str) -> str | None:
    return COMMANDS.get(normalise(text)) if len(text) <= 40 else None


@dataclass(frozen=True)
class ChangeRequest:
    field: str
    value: str | None


def change_request(text: str) -> ChangeRequest | None:
    """``change domain``, ``change the domain to Marine``, ``update e-mail: a@b.org``."""
    match = _CHANGE_RE.match(text.strip()) if len(text) <= 2500 else None
    if not match:
        return None
    field = FIELD_ALIASES[re.sub(r"\s+", " ", match.group(1).lower())]
    value = match.group("value") or match.group("bare")
    value = value.strip().rstrip(".!").strip() if value else None
    if value and normalise(value) in ("please", "again", "now", "too", "as well"):
        value = None  # "change the name please"
    return ChangeRequest(field, value or None)


def field_pairs(text: str) -> list[tuple[str, str]]:
    """``name: X, url: Y`` and ``Key: value`` lines, in order; empty if there are none.

    A comma only separates pairs when a known key follows it, so ``modalities: text,
    images`` keeps its list and a URL keeps its query string. A value ends with its line.
    """
    matches = list(_PAIR_RE.finditer(text))
    pairs: list[tuple[str, str]] = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        line_end = text.find("\n", match.end())
        if line_end != -1:
            end = min(end, line_end)  # "The card is attached." below is not part of it
        key = FIELD_ALIASES[re.sub(r"\s+", " ", match.group(1).lower())]
        value = text[match.end():end]
        inline = list(_INLINE_KEY_RE.finditer(value))
        for part, (start, label) in enumerate([(0, key)] + [
                (m.end(), FIELD_ALIASES[re.sub(r"\s+", " ", m.group(1).lower())])
                for m in inline]):
            stop = inline[part].start() if part < len(inline) else len(value)
            pairs.append((label, value[start:stop].strip()))
    return pairs


def numbered_choices(text: str, offered: list[str]) -> list[str] | None:
    """``2`` or ``1, 3`` picks from the options last offered; None if it is not numbers."""
    if not offered or not _NUMBERS_RE.match(text):
        return None
    picked: list[str] = []
    for number in re.findall(r"\d+", text):
        index = int(number) - 1
        if not 0 <= index < len(offered):
            return []
        if offered[index] not in picked:
            picked.append(offered[index])
    return picked


_GREETING = re.compile(
    r"^(?:hi+|hello+|hey+|hiya|howdy|yo|greetings|good (?:morning|afternoon|evening|day)|"
    r"hallo|bonjour|hola|ciao|salut|moin)(?: there| all| team| bot| intake)?$"
)


_INTENT_PERSON = frozenset({"i", "we", "id", "wed", "im", "were", "ive", "weve", "my", "our",
                            "us", "me"})
_INTENT_VERBS = frozenset({"share", "contribute", "submit", "offer", "donate", "upload", "add",
                           "propose", "provide", "give", "have", "got", "send", "publish"})
_INTENT_OBJECTS = frozenset({"dataset", "datasets", "data", "contribution", "corpus"})


def is_intent(text: str) -> bool:
    """"hi there! I want to share a dataset about coral reefs": someone saying what they
    came for, not an answer (a name is not a sentence about wanting to contribute)."""
    words = re.findall(r"[a-z]+", normalise(text).replace("'", ""))
    return (4 <= len(words) <= 40 and bool(_INTENT_PERSON.intersection(words))
            and bool(_INTENT_VERBS.intersection(words))
            and bool(_INTENT_OBJECTS.intersection(words)))


_QUESTION_WORDS = frozenset({"what", "whats", "how", "why", "when", "where", "who", "which",
                             "can", "could", "do", "does", "is", "are", "should", "will",
                             "would", "may", "must", "am"})
_TERMS_WORDS = frozenset({"terms", "term", "license", "licence", "agreement", "agree",
                          "conditions", "cdla", "legal"})


def is_question(text: str) -> str | None:
    """"what are the terms?", "how long does review take?": a question to the bot, not an
    answer; "terms" when it asks about the contribution terms, else "other"."""
    said = normalise(text)
    words = re.findall(r"[a-z]+", said.replace("'", ""))
    if not said.endswith("?") or len(words) < 2 or words[0] not in _QUESTION_WORDS:
        return None
    return "terms" if _TERMS_WORDS.intersection(words) else "other"


def is_greeting(text: str) -> bool:
    """"hi", "hello there", "good morning": a greeting, never an answer."""
    return len(text) <= 40 and bool(_GREETING.match(normalise(text)))


_YES = {"yes", "y", "yep", "yeah", "yes please", "ok", "okay", "sure", "correct", "right",
        "confirm", "confirmed", "submit", "send", "send it", "submit it", "go", "go ahead",
        "looks good", "that's right", "thats right", "yes submit", "yes, submit", "lgtm",
        "submit anyway", "yes submit anyway", "send anyway", "use it", "use that", "that one",
        # the same in the languages contributors write in most often
        "ja", "jawohl", "ja bitte", "oui", "oui merci", "si", "sí", "sim", "da", "tak", "ano"}
_NO = {"no", "n", "nope", "not yet", "wait", "no thanks", "not right", "wrong",
       "nein", "non", "não", "nao", "nee", "nej", "nie", "ne", "no gracias"}


_YES_WORDS = {"yes", "y", "yep", "yeah", "yup", "ok", "okay", "sure", "correct", "confirm",
              "confirmed", "submit", "send", "go", "lgtm", "absolutely", "definitely"}
_FILLER = {"please", "it", "now", "anyway", "ahead", "thanks", "thank", "you", "that", "this",
           "is", "looks", "good", "great", "fine", "right", "all", "do", "i", "the", "one",
           "use", "submission", "and", "go", "send", "submit", "confirm", "yes", "ok", "sure"}
_NO_WORDS = {"no", "n", "nope", "not", "don't", "dont", "wait", "wrong", "stop", "never"}


def yes_or_no(text: str) -> bool | None:
    """A short confirmation ("Yes, submit it.", "no thanks"): True, False, or None."""
    said = normalise(text)
    if said in _YES:
        return True
    if said in _NO:
        return False
    if "?" in said or len(said) > 60:
        return None
    words = re.findall(r"[a-z']+", said)
    if not words or any(word in _NO_WORDS for word in words):
        return False if words and words[0] in _NO_WORDS and all(
            w in _NO_WORDS | _FILLER | {"thanks"} for w in words) else None
    if words[0] in _YES_WORDS and all(w in _YES_WORDS | _FILLER for w in words):
        return True
    return None


# -- corrections -------------------------------------------------------------------------

# Words that open a correction: what follows replaces an earlier answer.
_MARKERS = ("actually", "wait", "oops", "whoops", "sorry", "oh right", "oh wait", "oh",
            "ah", "hmm", "um", "uh", "my bad", "my mistake", "correction", "scratch that",
            "i mean", "i meant", "rather", "hang on", "hold on", "no wait", "pardon",
            "ok so", "so")
_MARKER_RE = re.compile(
    r"^(?:(?:" + "|".join(re.escape(m).replace(r"\ ", r"\s+") for m in _MARKERS)
    + r")(?![\w'])[\s,.!:;\u2013\u2014-]*)+", re.IGNORECASE)
# "no" alone is an answer (hosting, consent): it opens a correction only before one.
_NO_RE = re.compile(r"^(?:no|nope|nah)\b[\s,.!:;\u2013\u2014-]+", re.IGNORECASE)
_FIELD_WRONG_RE = re.compile(
    rf"^(?:the\s+|my\s+|our\s+)?({_KEY_PATTERN})\s+(?:is|was|'s|are)\s+(?:wrong|incorrect|"
    r"not right|a typo|off|outdated)\b[\s,.;:!\u2013\u2014-]*"
    r"(?:(?:it\s+|that\s+|this\s+)?(?:should|must|ought to)\s+(?:just\s+|really\s+|actually\s+)?"
    r"(?:be|read|say)\s+|(?:it'?s|it\s+is)\s+(?:really\s+|actually\s+)?|use\s+|make it\s+)?"
    r"(?P<value>.*)$", re.IGNORECASE | re.DOTALL)
_FIELD_IS_RE = re.compile(
    rf"^(?:the\s+|my\s+|our\s+)?({_KEY_PATTERN})\s+(?:should\s+(?:just\s+|really\s+)?be|"
    r"must\s+be|is\s+(?:really|actually)|is|=|->)\s+(?P<value>.+)$", re.IGNORECASE | re.DOTALL)
_IT_IS_RE = re.compile(
    r"^(?:it'?s|it\s+is|it\s+should\s+(?:just\s+)?be|should\s+(?:just\s+)?be|make\s+it|"
    r"that\s+should\s+be|i\s+meant?|use|(?:it\s+)?was\s+meant\s+to\s+be|the\s+right\s+one\s+is)"
    r"\s+(?:just\s+|really\s+|actually\s+)?(?P<value>.+)$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Correction:
    """A change of an earlier answer; ``field`` None when the words do not name it."""

    field: str | None
    value: str | None
    marked: bool  # opened with "actually", "oops", "sorry"...


def _field_of(alias: str) -> str:
    return FIELD_ALIASES[re.sub(r"\s+", " ", alias.lower())]


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    value = text.strip().strip("\"'\u201c\u201d").strip()
    value = re.sub(r"[\s.!]+$", "", value) if "://" not in value else value.rstrip(".!")
    value = re.sub(r"^(?:just|simply)\s+", "", value, flags=re.IGNORECASE)
    return value or None


def correction_of(text: str) -> Correction | None:
    """``Actually no - change the domain to Marine``, ``wait, the name is wrong, it should
    just be X``, ``oh right, it's dana@example.org``, ``oops sorry, https://...``,
    ``set the e-mail to ...``, ``the domain should be Legal``: what to change, or None.

    One line only: a sentence inside a longer e-mail is read by its labels instead.
    """
    text = text.strip()
    if not text or "\n" in text or len(text) > 500:
        return None
    rest = _MARKER_RE.sub("", text, count=1)
    marked = rest != text
    if field_pairs(rest):
        return None  # "sorry, modalities: text": read by its labels
    after_no = _NO_RE.sub("", rest, count=1)
    said_no = after_no != rest
    for candidate, opened in ((rest, marked), (after_no, True)):
        found = _explicit(candidate) if opened or candidate == rest else None
        if found is not None:
            return Correction(found.field, found.value, opened)
    if said_no and _IT_IS_RE.match(after_no):
        rest = after_no
    match = _IT_IS_RE.match(rest) if marked or said_no else None  # "it's X" alone is prose
    if match:
        return Correction(None, _value(match.group("value")), True)
    if marked and rest.strip(" ,.!-"):
        return Correction(None, _value(rest), True)
    return None


def _explicit(text: str) -> ChangeRequest | None:
    change = change_request(text)
    if change is not None:
        return ChangeRequest(change.field, _value(change.value))
    match = _FIELD_WRONG_RE.match(text)
    if match:
        return ChangeRequest(_field_of(match.group(1)), _value(match.group("value")))
    match = _FIELD_IS_RE.match(text)
    if match:
        field, value = _field_of(match.group(1)), _value(match.group("value"))
        if field == "card" and not (value or "").lower().startswith("https://"):
            return None  # "the card is attached": not an answer
        return ChangeRequest(field, value)
    return None


_AGREEMENT = re.compile(
    r"^(?:(?:yes|ok|okay|sure|yep|and)[, ]+)?(?:i|we)\s+(?:do\s+|hereby\s+|fully\s+)?"
    r"(?:agree|accept|consent)(?:\s+(?:(?:to|with)\s+)?(?:the|your|these|all|those)?\s*"
    r"(?:terms|conditions|license|licence)(?:\s+(?:for|of)\s+contribution)?)?$"
    r"|^(?:agreed|i agree to everything|terms accepted|accept(?:ed)? the terms)$")


def is_agreement(text: str) -> bool:
    """"I agree", "we accept the terms": agreement, whatever question is open."""
    return len(text) <= 80 and bool(_AGREEMENT.match(normalise(text)))
