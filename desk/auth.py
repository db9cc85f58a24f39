"""Who is at the desk: one-time sign-in links, the signed session cookie, CSRF tokens.

- A sign-in link carries 256 random bits; only their SHA-256 is stored
  (``reviewer_sign_ins``), so a copy of the database signs no one in. The link works
  once, for ``LINK_MINUTES``.
- The session is a cookie signed with ``itsdangerous`` (HMAC, with a timestamp checked
  against ``SESSION_SECONDS``): it names the reviewer's address and the session's CSRF
  token. It holds nothing secret, so signing is enough; it is ``HttpOnly``,
  ``SameSite=Lax``, limited to ``/desk`` and ``Secure`` when the desk is served over https.
- Every POST carries the session's CSRF token in a hidden field (synchronizer token);
  ``SameSite`` alone would leave older browsers and same-site attackers.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE = "otdi_desk"
COOKIE_PATH = "/desk"
SESSION_SECONDS = 12 * 3600
LINK_MINUTES = 15
LINKS_PER_HOUR = 5  # per address: more requests get the same answer and no e-mail


def new_token() -> str:
    """A sign-in token for a link: URL-safe, 256 bits."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a token (hex SHA-256): a fast hash is enough for 256 random bits."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class DeskSession:
    """``email`` is the signed-in reviewer's address, or empty before signing in."""

    csrf: str
    email: str = ""

    def signed_in_as(self, email: str) -> DeskSession:
        """A new session for the reviewer, with a new CSRF token (none survives sign-in)."""
        return replace(self, email=email, csrf=secrets.token_urlsafe(24))

    def accepts(self, submitted: str | None) -> bool:
        """Whether a form's CSRF token is this session's (compared in constant time)."""
        return bool(submitted) and hmac.compare_digest(str(submitted).encode(),
                                                       self.csrf.encode())


def anonymous() -> DeskSession:
    return DeskSession(csrf=secrets.token_urlsafe(24))


class Sessions:
    """Reads and writes the signed session cookie."""

    def __init__(self, secret: str, *, secure: bool, max_age: int = SESSION_SECONDS) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="otdi-desk-session")
        self.secure = secure
        self.max_age = max_age

    def load(self, cookie: str | None) -> DeskSession | None:
        """The session a cookie holds; None when it is missing, forged, altered or old."""
        if not cookie:
            return None
        try:
            data = self._serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not isinstance(data.get("c"), str):
            return None
        return DeskSession(csrf=data["c"], email=str(data.get("e") or ""))

    def dump(self, session: DeskSession) -> str:
        return str(self._serializer.dumps({"c": session.csrf, "e": session.email}))
