"""Who is speaking: what a channel could establish about a sender, and what it allows.

Slack signs its requests and the terminal is the operator's own, so their events are
``pass``. An e-mail's ``From:`` is a claim: the mail adapter reports ``pass`` when a
trusted receiving server (or our own DKIM check) vouched for it, ``fail`` when it found
the claim false, ``none`` when nobody could tell. ``confirmed`` is an event that was
held and then confirmed from the mailbox on record. The rules of what each may do are
here, shared by every channel; the adapters only report the fact.
"""

from __future__ import annotations

import re
from enum import StrEnum


class SenderTrust(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NONE = "none"
    CONFIRMED = "confirmed"

    @property
    def verified(self) -> bool:
        """The sender is who they say: authenticated, or confirmed from the mailbox."""
        return self in (SenderTrust.PASS, SenderTrust.CONFIRMED)


class Hold(StrEnum):
    """What an unverified message asked for, held until the mailbox on record confirms."""

    WITHDRAW = "withdraw"
    CARD = "card"  # a new card for a submitted dataset
    MESSAGE = "message"  # words passed on to the reviewers
    RESTART = "restart"  # a new draft in place of the conversation
    DRAFT = "draft"  # a change to someone's draft by a sender found to be forged
    ANY = "any"  # the operator requires authentication for everything
    DECISION = "decision"  # a reviewer's decision by e-mail


def may_change_submission(trust: SenderTrust) -> bool:
    """Withdraw, a new card, a word to the reviewers, a restart: only a verified sender."""
    return trust.verified


def may_change_draft(trust: SenderTrust, *, has_answers: bool, require_auth: bool) -> bool:
    """Anyone may start a conversation and answer its questions, unless the operator
    requires authentication; a sender found forged (``fail``) may not change a draft
    that already holds someone's answers."""
    if trust.verified:
        return True
    if require_auth:
        return False
    return not (trust is SenderTrust.FAIL and has_answers)


def may_decide_by_mail(trust: SenderTrust) -> bool:
    """A reviewer's decision by e-mail: authenticated or confirmed, never on a claim."""
    return trust.verified


CONFIRM_OPENINGS = (("confirm",), ("confirmed",), ("i", "confirm"), ("yes", "confirm"),
                    ("yes", "i", "confirm"), ("ok", "confirm"))  # then anything
CONFIRM_LINES = frozenset({("yes",), ("y",), ("ok",), ("okay",), ("yes", "please"),
                           ("yes", "it", "was", "me"), ("it", "was", "me")})  # just these
NEGATIONS = frozenset({"no", "not", "don", "didn", "never", "nor", "t"})


def confirms(text: str) -> bool:
    """The first written line of a reply to a confirmation request says yes.

    An explicit "confirm" may be followed by anything ("Confirm, thanks"); a bare yes
    must stand alone. A question or a "no"/"not"/"didn't" anywhere confirms nothing:
    "Confirmation of what?", "Yes, but I did not send that".
    """
    first = next((line.strip() for line in text.splitlines()
                  if line.strip() and not line.lstrip().startswith(">")), "")
    words = tuple(re.findall(r"[a-z]+", first.lower()))
    if first.endswith("?") or NEGATIONS.intersection(words):
        return False
    return words in CONFIRM_LINES or any(words[:len(opening)] == opening
                                         for opening in CONFIRM_OPENINGS)


class ReviewGate(StrEnum):
    """What becomes of a listed reviewer's decision sent by e-mail."""

    ALLOW = "allow"
    CONFIRM = "confirm"  # held; the reviewer's listed mailbox is asked
    NO_TOKEN = "no_token"  # the thread was named only by a quoted Message-ID


def review_gate(*, named_by_token: bool, trust: SenderTrust) -> ReviewGate:
    """A decision needs the review thread's token (a forwarded review e-mail or a list
    archive shows Message-IDs to anyone) and a sender authenticated or confirmed."""
    if not named_by_token:
        return ReviewGate.NO_TOKEN
    return ReviewGate.ALLOW if may_decide_by_mail(trust) else ReviewGate.CONFIRM
