"""Just the new lines of a reply: no quoted thread, no signature, no greeting.

``mail-parser-reply`` (maintained; knows "On ... wrote:", "Am ... schrieb", Outlook's
"From:/Sent:" block and "Sent from my phone" in many languages) does the heavy lifting.
Around it: lines still starting with ``>`` are quoted text (inline replies keep the
answers between them), and a greeting or sign-off line is not an answer to a question.

Two rules the library cannot know. Our own e-mail quoted back is never read again, in
any language: the history starts at the first line that introduces a message of ours
(an attribution ending in ":" or a header line, naming our address), since clients the
library does not know ("Em ... escreveu:", "El ... (<data@...>) escribió:", "... г. в
10:00, ... <data@...>:") leave our form's empty "Dataset card:" line unquoted. And a
forwarded message is what its sender means to send: its text is kept (one level, without
its headers), where a reply's quoted history is not.
"""

from __future__ import annotations

import re

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from mail.answers import has_pairs

MAX_CHARS = 100_000
# The line a forwarding client writes above the message it forwards (Gmail, Thunderbird,
# Apple Mail; in the languages the reply parser knows, as their clients write them).
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|weitergeleitete nachricht|message transf[ée]r[ée]|"
    r"mensaje reenviado|mensagem encaminhada|messaggio inoltrato|doorgestuurd bericht|"
    r"videresendt meddelelse|vidarebefordrat meddelande|przekazana wiadomo[śs][ćc])\s*-{2,}|"
    r"begin forwarded message:|anfang der weitergeleiteten nachricht:|"
    r"d[ée]but du message r[ée]exp[ée]di[ée]\s?:|inicio del mensaje reenviado:|"
    r"inizio messaggio inoltrato:|begin doorgestuurd bericht:)\s*$", re.IGNORECASE)
_HEADER_LABEL = re.compile(r"^[\s>*]*[^\W\d][\w .'-]{0,24}?\s?[:：]", re.UNICODE)
_SIGNATURE = re.compile(r"^-- ?$")
_ATTRIBUTION_END = re.compile(r"[:：][\s\u00a0\u202f*]*$")
LANGUAGES = tuple(language for language in MAIL_LANGUAGES if language != "david")
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)|hallo|bonjour|"
    r"hola|ciao|hej|moin|salut)\b[^:\n]{0,40}$", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^(?:cheers|thanks|thank you|many thanks|thanks a lot|best|regards|kind regards|"
    r"best regards|best wishes|warm regards|all the best|sincerely|yours|greetings|"
    r"mit freundlichen gr(?:ü|ue)(?:ß|ss)en|viele gr(?:ü|ue)(?:ß|ss)e|cordialement|saludos)"
    r"[ ,.!]*$", re.IGNORECASE)


def new_lines(text: str, *, own_address: str = "", forwarded: bool = False) -> str:
    """The part of a message body its sender just wrote, and what they forward.

    ``own_address``: the submission address (its plus-tagged forms count too);
    ``forwarded``: the subject says the message is a forward ("Fwd:", "WG:", ...).
    """
    text = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    text = _before_our_history(text, own_address)
    parts = _latest_reply(text, forwarded)
    return "\n\n".join(part for part in (_tidy(p) for p in parts) if part)


def _tidy(text: str) -> str:
    """No quoted lines, nor the line introducing them (a line ending in ":" above a quote,
    in any language), no signature below "-- ", no greeting or sign-off."""
    lines = text.split("\n")
    signature = next((i for i, line in enumerate(lines) if _SIGNATURE.match(line)), None)
    lines = lines[:signature]
    lines = [line for index, line in enumerate(lines)
             if not line.lstrip().startswith(">") and not _introduces_quote(lines, index)]
    lines = [line for line in lines if not _FORWARD_MARKER.match(line)]
    lines = _without_greeting(_without_sign_off(lines))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _introduces_quote(lines: list[str], index: int) -> bool:
    if not _ATTRIBUTION_END.search(lines[index]):
        return False
    following = next((line for line in lines[index + 1:] if line.strip()), "")
    return following.lstrip().startswith(">")


def _own_pattern(address: str) -> re.Pattern[str] | None:
    local, at, domain = address.strip().strip("<>").rpartition("@")
    if not (at and local and domain):
        return None
    return re.compile(rf"(?<![\w.+-]){re.escape(local)}(?:\+[\w.-]*)?@{re.escape(domain)}(?![\w-])",
                      re.IGNORECASE)


def _before_our_history(text: str, own_address: str) -> str:
    """The text above the first line that introduces a quoted message of ours."""
    pattern = _own_pattern(own_address)
    if pattern is None:
        return text
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        line = lines[index]
        found = pattern.search(line)
        if found is None or line.lstrip().startswith(">") or not (
                _ATTRIBUTION_END.search(line) or _HEADER_LABEL.match(line)):
            index += 1
            continue
        start = index
        before = line[:found.start()].strip(" \t<([\"'")
        if index and lines[index - 1].strip() and (not before or lines[index - 1].rstrip()
                                                   .endswith(("<", "(", "["))):
            start = index - 1  # an attribution the client wrapped ("... Intake <" / "data@")
        following = next((rest for rest in lines[index + 1:] if rest.strip()), "")
        if following.lstrip().startswith(">"):
            # Quoted with ">": the quote goes with its marks (and the reply parser reads
            # the attribution), and what is written below it (bottom-posting) stays.
            index += 1
            continue
        return "\n".join(lines[:start])  # unquoted history: everything below is ours
    return text


def _latest_reply(text: str, forwarded: bool) -> list[str]:
    """The newest message's text; with the message it forwards, when it forwards one."""
    try:
        replies = EmailMessage(text=text, languages=list(LANGUAGES),
                               keep_hyphen_lists=True).read().replies
    except Exception:  # noqa: BLE001 - the library is a heuristic; never lose the text
        return [text]
    if not replies:
        return [text]
    first = replies[0]
    # A "Thanks, here it is:" line above the answers is not a signature.
    own = first.full_body if first.signatures and has_pairs(first.signatures) else first.body
    lines = [line for line in own.rstrip().split("\n") if line.strip()]
    marked = bool(lines) and bool(_FORWARD_MARKER.match(lines[-1]))
    if len(replies) > 1 and (forwarded or marked):
        return [own, replies[1].body]
    return [own]


def _without_sign_off(lines: list[str]) -> list[str]:
    """Drop "Thanks,\\nAda" at the end (at most two short lines after the sign-off)."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    for index in content[-3:]:
        if _SIGN_OFF.match(lines[index].strip()):
            after = [line for line in lines[index + 1:] if line.strip()]
            before = [line for line in lines[:index] if line.strip()]
            if before and len(after) <= 2 and all(len(line) <= 40 for line in after):
                return lines[:index]
    return lines


def _without_greeting(lines: list[str]) -> list[str]:
    """Drop a "Hi team," first line when something follows it."""
    content = [index for index, line in enumerate(lines) if line.strip()]
    if len(content) > 1 and _GREETING.match(lines[content[0]].strip()):
        return lines[content[0] + 1:]
    return lines
