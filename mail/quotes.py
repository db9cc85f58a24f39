"""Just the new lines of a reply: no quoted thread, no signature, no greeting.

``mail-parser-reply`` (maintained; knows "On ... wrote:", "Am ... schrieb", Outlook's
"From:/Sent:" block and "Sent from my phone" in many languages) does the heavy lifting.
Around it: lines still starting with ``>`` are quoted text (inline replies keep the
answers between them), and a greeting or sign-off line is not an answer to a question.
"""

from __future__ import annotations

import re

from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from mail.answers import has_pairs

MAX_CHARS = 100_000
LANGUAGES = tuple(language for language in MAIL_LANGUAGES if language != "david")
_GREETING = re.compile(
    r"^(?:hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)|hallo|bonjour|"
    r"hola|ciao|hej|moin|salut)\b[^:\n]{0,40}$", re.IGNORECASE)
_SIGN_OFF = re.compile(
    r"^(?:cheers|thanks|thank you|many thanks|thanks a lot|best|regards|kind regards|"
    r"best regards|best wishes|warm regards|all the best|sincerely|yours|greetings|"
    r"mit freundlichen gr(?:ü|ue)(?:ß|ss)en|viele gr(?:ü|ue)(?:ß|ss)e|cordialement|saludos)"
    r"[ ,.!]*$", re.IGNORECASE)


def new_lines(text: str) -> str:
    """The part of a message body its sender just wrote."""
    text = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    latest = _latest_reply(text)
    lines = [line for line in latest.split("\n") if not line.lstrip().startswith(">")]
    lines = _without_greeting(_without_sign_off(lines))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _latest_reply(text: str) -> str:
    try:
        replies = EmailMessage(text=text, languages=list(LANGUAGES),
                               keep_hyphen_lists=True).read().replies
    except Exception:  # noqa: BLE001 - the library is a heuristic; never lose the text
        return text
    if not replies:
        return text
    first = replies[0]
    if first.signatures and has_pairs(first.signatures):
        # A "Thanks, here it is:" line above the answers is not a signature.
        return first.full_body
    return first.body


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
