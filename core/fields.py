"""Parsers for the answers a contributor gives to each field of the OTDI form.

Contributors type free text into Slack or e-mail, so every parser is forgiving about
form (case, punctuation, plurals, what mail clients and Slack wrap around links) and
strict about meaning: an answer that cannot be used raises :class:`FieldError`, whose
``code`` and ``context`` pick a sentence in ``templates/text/field_error.j2``.

Every parser takes arbitrary text (control characters, emoji, bidi marks, 100 KB) and
either returns a model or raises ``FieldError``; nothing else. All work is linear in the
input: no backtracking regular expressions over contributor text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal, Self
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict

from core.spec import domain_choices, form_field, modality_choices

FIELD_ORDER: tuple[str, ...] = (
    "name", "location", "hosting", "card", "modalities", "domain", "email", "consent",
)

NAME_LIMIT = 200
LOCATION_LIMIT = 2048
DOMAIN_SUGGESTION_LIMIT = 100
EMAIL_INPUT_LIMIT = 1000  # beyond this we do not hand the text to email-validator at all
UNKNOWN_WORDS_SHOWN = 5  # how many not-understood words an error message quotes back
UNKNOWN_WORD_CHARS = 40


class FieldError(ValueError):
    """A contributor's answer that cannot be used; rendered by templates/text/field_error.j2."""

    def __init__(self, field: str, code: str, **context: Any) -> None:
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code
        self.context: dict[str, Any] = context

    def render_context(self) -> dict[str, Any]:
        """The context ``field_error.j2`` expects, so callers need not rebuild it."""
        return {"field": self.field, "code": self.code, **self.context}


# --------------------------------------------------------------------------- text helpers

# Format characters that are invisible and only confuse matching (bidi controls,
# zero-width space, BOM, soft hyphen). ZWJ/ZWNJ and emoji tag characters are kept:
# they are part of emoji sequences and of some scripts.
_KEEP_FORMAT = frozenset("\u200c\u200d")


def _clean(text: str) -> str:
    """Drop control/invisible characters; control whitespace (newline, tab) becomes a space."""
    out: list[str] = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc":
            if ch.isspace():
                out.append(" ")
        elif category == "Cs":
            continue  # lone surrogates cannot even be encoded
        elif category == "Cf":
            if ch in _KEEP_FORMAT or "\U000e0020" <= ch <= "\U000e007f":
                out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


def _collapse(text: str) -> str:
    """Cleaned text with every run of whitespace turned into one space, trimmed."""
    return " ".join(_clean(text).split())


_APOSTROPHES = str.maketrans("", "", "'\u2019\u2018`\u02bc")


_REJECTED = re.compile(
    r"(?:\s*[,;(]\s*|\s+[-\u2013\u2014]\s+)(?:and\s+|but\s+)?(?:not|no)\s+[^,;()]+\)?"
    r"|\s+(?:instead\s+of|rather\s+than)\s+[^,;()]+", re.IGNORECASE)
_REJECTED_FIRST = re.compile(r"^\s*not\s+[^,;]+?(?:\s*[,;]\s*|\s+but\s+)(?=\S)",
                             re.IGNORECASE)


def without_rejected(text: str) -> str:
    """A choice without the alternatives it turns down: "Climate, not Marine", "text
    (not images)", "Legal instead of Finance", "not Marine but Climate" name one each.

    Only after a separator, so a label that begins with "not" ("Not domain specific")
    stays; what is left must still say something.
    """
    kept = _REJECTED_FIRST.sub("", _REJECTED.sub("", text))
    return kept if kept.strip(" ,;.-") else text


def _words(text: str) -> list[str]:
    """Lower-case alphanumeric words: punctuation and separators all split, apostrophes join.

    ``don't`` becomes ``dont`` and ``time-series`` becomes ``time series``, which is what
    lets the vocabularies below be plain word sets.
    """
    lowered = _clean(text).translate(_APOSTROPHES).casefold()
    return "".join(ch if ch.isalnum() else " " for ch in lowered).split()


def _match_phrases(
    words: list[str], phrases: dict[tuple[str, ...], str], longest: int
) -> list[tuple[str | None, str]]:
    """Greedy longest-phrase matching: (meaning or None, matched text) for each piece."""
    pieces: list[tuple[str | None, str]] = []
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            chunk = tuple(words[i:i + size])
            meaning = phrases.get(chunk)
            if meaning is None and size == 1 and chunk[0].endswith("s"):
                meaning = phrases.get((chunk[0][:-1],))  # a plural of a known word
            if meaning is not None:
                pieces.append((meaning, " ".join(chunk)))
                i += size
                break
        else:
            pieces.append((None, words[i]))
            i += 1
    return pieces


def _shown(words: list[str]) -> list[str]:
    """Distinct words, few and short enough to quote back in one message."""
    seen: list[str] = []
    for word in words:
        short = word[:UNKNOWN_WORD_CHARS]
        if short not in seen:
            seen.append(short)
        if len(seen) == UNKNOWN_WORDS_SHOWN:
            break
    return seen


def _phrase_table(aliases: dict[str, list[str]]) -> tuple[dict[tuple[str, ...], str], int]:
    """Turn ``{meaning: [alias text, ...]}`` into a word-tuple table and its longest entry."""
    table: dict[tuple[str, ...], str] = {}
    for meaning, texts in aliases.items():
        for text in texts:
            table[tuple(_words(text))] = meaning
    return table, max((len(key) for key in table), default=1)


class _Model(BaseModel):
    """Parsed answers are values: immutable, compared by content."""

    model_config = ConfigDict(frozen=True)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Each field's model reads the contributor's raw text; see the subclasses."""
        raise NotImplementedError


# --------------------------------------------------------------------------- name


_QUOTE_PAIRS = {'"': '"', "'": "'", "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb",
                "`": "`"}


class DatasetName(_Model):
    """The dataset's name as the form shows it: one line, 1-200 characters."""

    value: str

    @classmethod
    def parse(cls, text: str) -> Self:
        """Trim, collapse whitespace, drop control characters and one pair of quotes."""
        value = _collapse(text)
        if len(value) >= 2 and _QUOTE_PAIRS.get(value[0]) == value[-1]:
            value = value[1:-1].strip()
        if not value:
            raise FieldError("name", "name_empty")
        if len(value) > NAME_LIMIT:
            raise FieldError("name", "name_too_long", length=len(value), limit=NAME_LIMIT)
        return cls(value=value)


# --------------------------------------------------------------------------- location

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_NON_HIERARCHICAL = frozenset({"javascript", "data", "mailto", "file", "about", "blob", "tel",
                               "vbscript", "urn", "magnet", "news", "sms", "view-source"})
_TRAILING_PUNCT = frozenset(".,;:!?~")
# A closing quote is glued-on punctuation unless the text opens with its partner, in
# which case the pair is a wrapper that _unwrap removes as a whole.
_CLOSING_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201d": "\u201c", "\u2019": "\u2018",
                   "\u00bb": "\u00ab"}
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}
_WRAPPERS = {"<": ">", "(": ")", "[": "]", "{": "}", '"': '"', "'": "'", "`": "`",
             "\u201c": "\u201d", "\u2018": "\u2019", "\u00ab": "\u00bb", "*": "*", "_": "_"}
# "data.csv" is a file name, not a host, even though .csv could be a top-level domain.
_FILE_EXTENSIONS = frozenset({"csv", "tsv", "txt", "json", "jsonl", "md", "parquet", "zip", "gz",
                              "tar", "pdf", "xlsx", "xls", "arrow", "h5", "npy", "npz", "pkl",
                              "yaml", "yml", "xml", "html", "py"})


def _strip_trailing(text: str) -> str:
    """Drop sentence punctuation and unbalanced closing brackets glued after a link."""
    counts = {ch: text.count(ch) for ch in "()[]{}<>"}
    end = len(text)
    while end > 0:
        ch = text[end - 1]
        if ch in _TRAILING_PUNCT:
            end -= 1
        elif ch in _CLOSING_QUOTES:
            if end > 1 and text[0] == _CLOSING_QUOTES[ch]:
                break
            end -= 1
        elif ch in _CLOSERS and counts[ch] > counts[_CLOSERS[ch]]:
            counts[ch] -= 1
            end -= 1
        else:
            break
    return text[:end]


def _unwrap(text: str) -> str:
    """Peel what mail clients, Slack and Markdown put around a link, a few layers deep."""
    text = text.strip()
    for _ in range(6):  # bounded: real messages nest two or three layers at most
        before = text
        text = _strip_trailing(text).strip()
        if len(text) >= 2 and text[0] == "[" and text[-1] == ")" and "](" in text:
            text = text[text.index("](") + 2:-1].strip()  # Markdown [label](url)
        elif len(text) >= 2 and _WRAPPERS.get(text[0]) == text[-1]:
            inner = text[1:-1]
            if text[0] == "<":  # Slack: <url> or <url|label>, with & < > escaped
                inner = inner.split("|", 1)[0]
                inner = inner.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
            text = inner.strip()
        if text == before:
            break
    return _strip_trailing(text).strip()


def _looks_like_host(text: str) -> bool:
    """Whether scheme-less text starts with something like ``example.org[:port]``."""
    cut = len(text)
    for sep in "/?#":
        found = text.find(sep)
        if found != -1:
            cut = min(cut, found)
    host = text[:cut]
    if host.count(":") == 1:
        host, port = host.split(":")
        if not (port.isascii() and port.isdigit()):
            return False
    labels = host.split(".")
    if len(labels) < 2:
        return False
    tld = labels[-1]
    if not (tld.isalpha() and 2 <= len(tld) <= 63):
        return False
    if cut == len(text) and tld.casefold() in _FILE_EXTENSIONS:
        return False
    return all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
        and all(ch.isalnum() or ch == "-" for ch in label)
        for label in labels
    )


class DatasetLocation(_Model):
    """Where the data lives: an https:// URL, as the OTDI form's pattern requires."""

    value: str

    @classmethod
    def parse(cls, text: str) -> Self:
        """Unwrap, then accept only an https link with a host and no credentials."""
        url = _unwrap(_clean(text))
        if not url:
            raise FieldError("location", "location_empty")
        if any(ch.isspace() for ch in url):
            raise cls._whitespace_error(url)
        match = _SCHEME_RE.match(url)
        if match is None:
            if url.startswith("//") and _looks_like_host(url[2:]):
                raise FieldError("location", "location_not_url", suggestion="https:" + url)
            if _looks_like_host(url):
                raise FieldError("location", "location_not_url", suggestion="https://" + url)
            raise FieldError("location", "location_not_url")
        scheme = match.group(1).casefold()
        rest = url[match.end():]
        if len(scheme) == 1:  # a Windows path such as C:/data/file.csv
            raise FieldError("location", "location_not_url")
        if scheme not in {"http", "https"} and not rest.startswith("//") \
                and scheme not in _NON_HIERARCHICAL:
            # "example.org:8080/data" or "localhost:8000": a host and port, no scheme.
            if _looks_like_host(url):
                raise FieldError("location", "location_not_url", suggestion="https://" + url)
            if rest[:1].isdigit():
                raise FieldError("location", "location_not_url")
        if scheme == "http":
            secure = cls.parse("https:" + rest)  # report problems beyond http first
            raise FieldError("location", "location_http", suggestion=secure.value)
        if scheme != "https":
            raise FieldError("location", "location_scheme", scheme=scheme[:40])
        url = "https:" + rest
        if len(url) > LOCATION_LIMIT:
            raise FieldError("location", "location_too_long", length=len(url),
                             limit=LOCATION_LIMIT)
        try:
            parts = urlsplit(url)
            host = parts.hostname
            _ = parts.port  # raises ValueError for a port that is not a number
        except ValueError as exc:
            raise FieldError("location", "location_not_url") from exc
        if "@" in parts.netloc:
            raise FieldError("location", "location_credentials")
        if not host or not any(ch.isalnum() for ch in host):
            raise FieldError("location", "location_no_host")
        return cls(value=url)

    @classmethod
    def _whitespace_error(cls, text: str) -> FieldError:
        """A link with spaces inside, or a sentence with one link in it (then suggest it).

        When the text starts with the link, the space is more likely part of the address
        ("https://x.org/my data"), so cutting it there would suggest the wrong link.
        """
        tokens = [_unwrap(word) for word in text.split()]
        candidates = [token for token in tokens if "://" in token or _looks_like_host(token)]
        if not candidates:
            return FieldError("location", "location_not_url")
        if len(candidates) == 1 and candidates[0] != tokens[0]:
            token = candidates[0]
            if "://" not in token:
                token = "https://" + token
            try:
                return FieldError("location", "location_whitespace",
                                  suggestion=cls.parse(token).value)
            except FieldError as err:
                if err.code == "location_http":
                    return FieldError("location", "location_whitespace", **err.context)
        return FieldError("location", "location_whitespace")


# --------------------------------------------------------------------------- hosting

_HOST_ALLIANCE = frozenset({"yes", "y", "yeah", "yea", "yep", "yup", "sure", "ok", "okay",
                            "alliance", "please", "aia", "otdi", "ja", "oui", "si", "sí",
                            "sim"})
_HOST_SELF = frozenset({"no", "n", "nope", "nah", "self", "selfhosted", "selfhosting", "own",
                        "myself", "ourselves", "keep", "keeping", "dont", "not", "never",
                        "already", "huggingface", "hugging", "github", "zenodo", "kaggle",
                        "mine", "ours", "nein", "non", "não", "nao", "nee"})
_HOST_VERBS = frozenset({"host", "hosts", "hosted", "hosting", "hostit"})
_HOST_SELF_SUBJECTS = frozenset({"i", "we", "ill", "id", "ive", "im", "myself", "ourselves",
                                 "me", "us", "wed", "weve", "well"})  # we'd, we've, we'll
_HOST_ALLIANCE_SUBJECTS = frozenset({"you", "alliance", "they", "otdi", "aia"})
_HOST_FILLER = frozenset({"the", "it", "its", "ai", "my", "our", "thanks", "thank", "you", "i",
                          "we", "would", "like", "want", "to", "prefer", "will", "ll", "can",
                          "could", "should", "let", "do", "a", "an", "on", "at", "by", "for",
                          "with", "dataset", "data", "this", "that", "them", "they", "be", "is",
                          "are", "just", "go", "ahead", "fine", "s", "d", "ill", "id", "ive",
                          "im", "me", "us", "face", "hf", "of", "and", "itself", "set",
                          "happy", "rather", "yourself", "yourselves", "option", "choice",
                          "answer", "so", "good", "great", "sounds", "wed", "weve", "well",
                          "youd", "youll", "theyd", "lets", "currently", "your", "yours", "server",
                          "servers", "storage", "infrastructure", "site", "website", "repo",
                          "repository", "bucket", "cloud", "platform", "account", "there",
                          "in", "where", "now", "stay", "stays", "remain", "remains"})


class Hosting(_Model):
    """Whether the AI Alliance hosts the data or the contributor keeps their own hosting."""

    value: Literal["alliance", "self"]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read yes/no or who hosts it; a question, a mix or an unknown word is unclear."""
        words = _words(text)
        if "?" in text or not words:
            raise FieldError("hosting", "hosting_unclear")
        alliance = self_ = weak = 0
        for index, word in enumerate(words):
            if word in _HOST_VERBS:
                subject = next((w for w in reversed(words[max(0, index - 3):index])
                                if w in _HOST_SELF_SUBJECTS or w in _HOST_ALLIANCE_SUBJECTS),
                               None)
                if subject in _HOST_SELF_SUBJECTS:
                    self_ += 1
                elif subject is not None:
                    alliance += 1
                else:
                    weak += 1  # "host it": the Alliance, unless they also said no/own
            elif word in _HOST_SELF:
                self_ += 1
            elif word in _HOST_ALLIANCE:
                alliance += 1
            elif word not in _HOST_FILLER:
                raise FieldError("hosting", "hosting_unclear")
        if self_ and alliance:
            raise FieldError("hosting", "hosting_unclear")
        if self_:
            return cls(value="self")
        if alliance or weak:
            return cls(value="alliance")
        raise FieldError("hosting", "hosting_unclear")


# --------------------------------------------------------------------------- modalities

_ALL = "*all*"
# Synonyms by the first word of the spec's label, so a relabelled choice still resolves.
_MODALITY_ALIASES: dict[str, list[str]] = {
    "text": ["text", "textual", "text only", "txt", "written", "written text", "natural language",
             "nlp", "documents", "document"],
    "images": ["image", "images", "picture", "pictures", "photo", "photos", "photograph",
               "photographs", "img", "imagery", "imaging", "pic", "pics"],
    "audio": ["audio", "sound", "speech", "voice", "voices", "audio only", "recordings",
              "spoken"],
    "video": ["video", "videos", "movie", "movies", "film", "films", "video including audio",
              "video with audio", "video and audio included", "clips"],
    "other": ["other", "others", "science", "science data", "scientific", "scientific data",
              "tabular", "tabular data", "tables", "sensor data", "numerical data",
              "time series", "timeseries", "time series data", "measurements", "readings",
              "sensor readings", "numeric", "numeric data", "csv", "spreadsheets",
              "geospatial", "geospatial data", "point clouds", "graphs", "graph data",
              "genomic data", "molecular data", "simulation data", "simulations",
              "other e g science data", "other eg science data"],
    _ALL: ["all", "all of them", "everything", "all four", "all 4", "all of the above",
           "every one"],
}
_MODALITY_FILLER = frozenset({"and", "or", "also", "plus", "with", "the", "a", "an", "of", "some",
                              "mostly", "mainly", "just", "data", "only", "both", "as", "well",
                              "etc", "e", "g", "eg", "i", "we", "have", "it", "its", "is",
                              "modality", "modalities", "mixed", "multimodal", "type", "types",
                              "files", "file", "dataset", "content", "main", "primarily",
                              "too", "including", "include", "includes", "contains",
                              # what kind of images, audio, text: still that modality
                              "satellite", "aerial", "drone", "medical", "microscopy",
                              "annotated", "labelled", "labeled", "raw", "short", "long",
                              "recorded", "transcribed", "scanned", "underwater",
                              "multilingual", "english"})


def _modality_labels() -> dict[str, str]:
    """Meaning key -> the spec's label (``text`` -> ``Text Only``)."""
    return {label.split()[0].casefold(): label for label in modality_choices()}


def _modality_table() -> tuple[dict[tuple[str, ...], str], int]:
    labels = _modality_labels()
    aliases = {key: list(texts) for key, texts in _MODALITY_ALIASES.items()
               if key in labels or key == _ALL}
    for key, label in labels.items():
        aliases.setdefault(key, []).append(label)  # the full label parses too
    return _phrase_table(aliases)


class Modalities(_Model):
    """The kinds of data in the dataset: one or more of the form's modality labels."""

    values: list[str]

    @classmethod
    def parse(cls, text: str) -> Self:
        """Split on separators and spaces; map synonyms and plurals onto spec labels."""
        choices = modality_choices()
        words = _words(without_rejected(text))
        if not words:
            shown = _collapse(text)
            if any(not unicodedata.category(ch).startswith(("P", "Z")) for ch in shown):
                # only emoji or symbols: we saw something, so "empty" would be wrong
                raise FieldError("modalities", "modalities_unknown",
                                 unknown=_shown([shown]), choices=choices)
            raise FieldError("modalities", "modalities_empty", choices=choices)
        table, longest = _modality_table()
        labels = _modality_labels()
        chosen: set[str] = set()
        unknown: list[str] = []
        fillers: list[str] = []
        for meaning, piece in _match_phrases(words, table, longest):
            if meaning == _ALL:
                chosen.update(form_field("modalities")["choices"])
            elif meaning is not None:
                chosen.add(labels[meaning])
            elif piece in _MODALITY_FILLER:
                fillers.append(piece)
            else:
                unknown.append(piece)
        if unknown or not chosen:
            raise FieldError("modalities", "modalities_unknown",
                             unknown=_shown(unknown or fillers), choices=choices)
        return cls(values=[label for label in choices if label in chosen])


# Words too vague to be read as a modality in the middle of a sentence ("all of it",
# "other things", "social science"); "time series", "sensor data" or "tabular" in a
# sentence do mean Other.
_PROSE_VAGUE_OTHER = frozenset({"other", "others", "science", "scientific", "scientific data",
                                "science data"})


def modalities_in(text: str) -> list[str]:
    """The modality labels named anywhere in a sentence, in the spec's order.

    For prose ("some coral reef photos with audio"), not for answers: unknown words are
    skipped here, where ``Modalities.parse`` refuses them.
    """
    table, longest = _modality_table()
    labels = _modality_labels()
    found = {labels[meaning] for meaning, piece
             in _match_phrases(_words(without_rejected(text)), table, longest)
             if meaning is not None and meaning != _ALL
             and not (meaning == "other" and piece in _PROSE_VAGUE_OTHER)}
    return [label for label in modality_choices() if label in found]


# --------------------------------------------------------------------------- domain

_DOMAIN_ALIASES: dict[str, list[str]] = {
    "Not domain specific": ["general", "general purpose", "generic", "not domain specific",
                            "none", "no domain", "no specific domain", "no particular domain",
                            "not specific", "non specific", "nonspecific", "domain agnostic",
                            "general domain", "general knowledge", "not applicable", "n a",
                            "nothing specific", "all domains", "any domain", "open domain",
                            "multi domain", "multidomain", "cross domain", "mixed domains"],
    "Climate": ["climate", "climate science", "climatology", "weather", "meteorology",
                "atmospheric science"],
    "Marine": ["marine", "ocean", "oceans", "oceanography", "marine science", "marine biology",
               "maritime", "sea"],
    "Materials": ["materials", "material", "materials science", "material science",
                  "materials engineering"],
    "Semiconductors": ["semiconductors", "semiconductor", "chips", "chip design",
                       "microelectronics"],
    "Time Series": ["time series", "timeseries", "time serie", "time series data"],
    "Other Industrial": ["other industrial", "industrial", "industry", "manufacturing",
                         "other industry", "industrial other"],
    "Finance": ["finance", "financial", "fintech", "banking", "financial services"],
    "Healthcare": ["healthcare", "health care", "health", "medical", "medicine", "clinical",
                   "biomedical", "life sciences"],
    "Legal": ["legal", "law", "laws", "legal documents", "legal texts"],
    "Social Science": ["social science", "social sciences", "socialscience", "socialsciences",
                       "sociology", "social studies"],
}
_DOMAIN_FILLER = frozenset({"the", "a", "an", "domain", "domains", "data", "dataset", "field",
                            "area", "sector", "specialty", "speciality", "it", "its", "is", "s",
                            "my", "our", "mostly", "mainly", "primarily", "i", "d", "id", "think",
                            "would", "say", "probably", "and", "or", "both", "this", "related",
                            "category", "please", "just", "in", "science"})


def _domain_table() -> tuple[dict[tuple[str, ...], str], int]:
    aliases: dict[str, list[str]] = {label: [label] for label in domain_choices()}
    for label, texts in _DOMAIN_ALIASES.items():
        if label in aliases:
            aliases[label].extend(texts)
    return _phrase_table(aliases)


class Domain(_Model):
    """The one domain specialty: a spec label, or a suggestion the contributor confirms."""

    value: str
    is_suggestion: bool = False

    @classmethod
    def parse(cls, text: str) -> Self:
        """A lone recognised domain is that label; several is an error; else a suggestion."""
        collapsed = _collapse(without_rejected(text))
        if not collapsed:
            raise FieldError("domain", "domain_empty", choices=domain_choices())
        table, longest = _domain_table()
        found: list[str] = []
        extra = False
        for meaning, piece in _match_phrases(_words(collapsed), table, longest):
            if meaning is not None:
                if meaning not in found:
                    found.append(meaning)
            elif piece not in _DOMAIN_FILLER:
                extra = True
        if len(found) >= 2:
            raise FieldError("domain", "domain_multiple",
                             found=[label for label in domain_choices() if label in found])
        if len(found) == 1 and not extra:
            return cls(value=found[0], is_suggestion=False)
        if len(collapsed) > DOMAIN_SUGGESTION_LIMIT:
            raise FieldError("domain", "domain_suggestion_too_long", length=len(collapsed),
                             limit=DOMAIN_SUGGESTION_LIMIT)
        return cls(value=collapsed, is_suggestion=True)


# Domain words that mean something else in a sentence ("none of these", "in general").
_PROSE_DOMAIN_SKIP = frozenset({"none", "general", "generic", "n a", "not applicable", "law",
                                "sea", "health", "industry", "chips", "weather"})


def domains_in(text: str) -> list[str]:
    """The listed domains named anywhere in a sentence ("buoy data from marine science")."""
    table, longest = _domain_table()
    found: list[str] = []
    for meaning, piece in _match_phrases(_words(without_rejected(text)), table, longest):
        if meaning is not None and piece not in _PROSE_DOMAIN_SKIP and meaning not in found:
            found.append(meaning)
    return found


# --------------------------------------------------------------------------- email


def _extract_address(text: str) -> str:
    """The bare address out of ``Name <a@x.org>``, ``mailto:a@x.org`` or Slack's link form."""
    text = text.strip()
    for _ in range(5):  # bounded: a few wrapping layers at most
        before = text
        if len(text) >= 2 and text[0] == "<" and text[-1] == ">":
            text = text[1:-1].split("|", 1)[0].strip()
        elif text.endswith(">") and "<" in text:
            text = text[text.rfind("<") + 1:-1].strip()
        if text[:7].casefold() == "mailto:":
            text = text[7:].split("?", 1)[0].strip()
        if len(text) >= 2 and _QUOTE_PAIRS.get(text[0]) == text[-1]:
            text = text[1:-1].strip()
        text = text.rstrip(".,;:!").strip()
        if text == before:
            break
    return text


class ContactEmail(_Model):
    """The contributor's address for reviewers; syntax-checked, not DNS-checked."""

    value: str

    @classmethod
    def parse(cls, text: str) -> Self:
        """Extract the address, validate it offline, return email-validator's normal form."""
        address = _extract_address(_clean(text))
        if not address:
            raise FieldError("email", "email_empty")
        if len(address) > EMAIL_INPUT_LIMIT:
            raise FieldError("email", "email_invalid", length=len(address),
                             limit=EMAIL_INPUT_LIMIT)
        try:
            checked = validate_email(address, check_deliverability=False)
        except EmailNotValidError as exc:
            raise FieldError("email", "email_invalid", reason=str(exc)) from exc
        except (ValueError, UnicodeError, IndexError) as exc:  # defensive: odd Unicode input
            raise FieldError("email", "email_invalid",
                             reason="The email address is not valid.") from exc
        return cls(value=checked.normalized)


# --------------------------------------------------------------------------- consent

_EMOJI_WORDS = {"\U0001f44d": " yes ", "\u2705": " yes ", "\u2714": " yes ", "\U0001f44e": " no ",
                "\u274c": " no ", ":+1:": " yes ", ":thumbsup:": " yes ",
                ":white_check_mark:": " yes ", ":heavy_check_mark:": " yes ",
                ":-1:": " no ", ":thumbsdown:": " no ", ":x:": " no "}
_CONSENT_YES = frozenset({"yes", "y", "yeah", "yea", "yep", "yup", "agree", "agreed", "accept",
                          "accepted", "absolutely", "sure", "ok", "okay", "certainly",
                          "definitely", "affirmative", "consent", "confirm", "confirmed",
                          "indeed", "course", "gladly", "aye", "agreeing", "accepting"})
_CONSENT_NO = frozenset({"no", "n", "nope", "nah", "not", "dont", "disagree", "decline",
                         "declined", "refuse", "never", "reject", "nay", "cant", "cannot", "wont",
                         "doesnt", "didnt"})
_CONSENT_NEGATORS = frozenset({"not", "dont", "never", "cant", "cannot", "wont", "doesnt", "didnt"})
_CONSENT_NEGATABLE = frozenset({"agree", "accept", "consent", "confirm", "agreed", "accepted"})
_CONSENT_BETWEEN = frozenset({"do", "really", "i", "we", "to", "fully", "quite"})
_CONSENT_WEAK_YES = frozenset({"do"})  # "I do": a yes when nothing says no
_CONSENT_FILLER = frozenset({"i", "we", "to", "the", "terms", "term", "conditions", "please", "of",
                             "thanks", "thank", "you", "all", "it", "that", "those", "these",
                             "them", "with", "hereby", "fully", "completely", "totally",
                             "happily", "am", "for", "contribution", "contributing", "license",
                             "licence", "s", "m", "im", "ll", "will", "a", "an", "and", "really",
                             "both", "on", "behalf", "my", "our", "team", "sir", "very", "much",
                             "100", "so", "too", "fine", "go", "ahead", "cdla", "permissive",
                             "2", "0", "version", "community", "data", "agreement"})


class Consent(_Model):
    """Whether the contributor agrees to the contribution terms (CDLA-Permissive-2.0)."""

    agreed: bool

    @classmethod
    def parse(cls, text: str) -> Self:
        """Only an explicit yes or a clear no counts; questions, hedges and mixes are unclear."""
        for emoji, word in _EMOJI_WORDS.items():
            if emoji in text:
                text = text.replace(emoji, word)
        words = _words(text)
        if "?" in text or not words:
            raise FieldError("consent", "consent_unclear")
        yes = no = weak = 0
        skip: set[int] = set()
        for index, word in enumerate(words):
            if index in skip:
                continue
            if word in _CONSENT_NEGATORS:
                no += 1
                for ahead in range(index + 1, min(index + 4, len(words))):
                    if words[ahead] in _CONSENT_NEGATABLE:
                        skip.add(ahead)  # "do not agree" is one no, not a no and a yes
                        break
                    if words[ahead] not in _CONSENT_BETWEEN:
                        break
            elif word in _CONSENT_NO:
                no += 1
            elif word in _CONSENT_YES:
                yes += 1
            elif word in _CONSENT_WEAK_YES:
                weak += 1
            elif word not in _CONSENT_FILLER:
                raise FieldError("consent", "consent_unclear")  # "maybe", "guess", "but"...
        if yes and no:
            raise FieldError("consent", "consent_unclear")
        if no:
            return cls(agreed=False)
        if yes or weak:
            return cls(agreed=True)
        raise FieldError("consent", "consent_unclear")


# --------------------------------------------------------------------------- dispatch

PARSERS: dict[str, type[_Model]] = {
    "name": DatasetName,
    "location": DatasetLocation,
    "hosting": Hosting,
    "modalities": Modalities,
    "domain": Domain,
    "email": ContactEmail,
    "consent": Consent,
}


def parse_field(field: str, text: str) -> BaseModel:
    """Parse ``text`` as the answer to ``field``; KeyError for ``card`` or an unknown key."""
    return PARSERS[field].parse(text)


_HOSTING_LABELS = {"alliance": "Yes, the AI Alliance hosts it", "self": "No, I keep my own hosting"}


def choices_for(field: str) -> list[tuple[str, str]]:
    """(value, button caption) pairs for fields answered by picking; [] for free-text fields."""
    if field == "hosting":
        return [(key, _HOSTING_LABELS.get(key, key)) for key in form_field("hosting")["choices"]]
    if field == "modalities":
        return [(label, label) for label in modality_choices()]
    if field == "domain":
        return [(label, label) for label in domain_choices()]
    if field == "consent":
        return [("yes", "I agree"), ("no", "I do not agree")]
    return []
