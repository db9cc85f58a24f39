"""Was this e-mail sent by the owner of its ``From:`` address? The fact the core acts on.

Two sources, both optional:

- the ``Authentication-Results`` header (RFC 8601) of a receiving server we trust
  (``INTAKE_TRUSTED_AUTHSERV_IDS``). Only the topmost header carrying a trusted
  authserv-id counts: a sender can write any header it likes below it. Parsed with
  ``authres``, the maintained RFC 8601 parser, not by hand.
- our own DKIM check (``INTAKE_VERIFY_DKIM``) with ``dkimpy``, the signature's ``d=``
  aligned with the From domain as DMARC requires. DNS is a function passed in, so
  tests serve the key record themselves and nothing leaves the machine.

``pass``: DMARC passed, or an aligned DKIM signature (or SPF for an aligned envelope
sender) passed. ``fail``: the trusted server or our check found the claim false.
``none``: nobody could tell.
"""

from __future__ import annotations

import email.parser
import email.policy
import logging
from collections.abc import Callable
from dataclasses import dataclass

import authres
import dkim

from core.trust import SenderTrust

log = logging.getLogger(__name__)

DnsTxt = Callable[..., bytes | None]  # dkimpy's ``dnsfunc(name, timeout=5)``
HEADER_SCAN_BYTES = 256 * 1024
MAX_SIGNATURES = 5


@dataclass(frozen=True)
class Authentication:
    """The verdict and how it was reached (for the audit row and the log)."""

    trust: SenderTrust
    by: str  # "authserv:<id>", "dkim:<d=>", or "" when nobody could tell


def aligned(domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment without a public-suffix list: the same domain or one
    inside the other (``mail.example.org`` and ``example.org``). A signer cannot be a
    public suffix, so this errs only towards refusing."""
    a, b = domain.strip(".").lower(), from_domain.strip(".").lower()
    return bool(a and b) and (a == b or a.endswith("." + b) or b.endswith("." + a))


def _results_header(raw: bytes,
                    trusted: frozenset[str]) -> authres.AuthenticationResultsHeader | None:
    """The topmost Authentication-Results header written by a server we trust."""
    if not trusted:
        return None
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(
        raw[:HEADER_SCAN_BYTES])
    for value in headers.get_all("Authentication-Results") or []:
        text = " ".join(str(value).split())
        try:
            parsed = authres.AuthenticationResultsHeader.parse_value(text)
        except (authres.AuthResError, ValueError, IndexError):
            continue  # unreadable: not a statement of the server we trust
        if str(parsed.authserv_id).lower() in trusted:
            return parsed
    return None


def _property(result: object, kind: str, name: str) -> str:
    for prop in getattr(result, "properties", []) or []:
        if prop.type == kind and prop.name == name:
            return str(prop.value or "").rpartition("@")[2]
    return ""


def _from_results(header: authres.AuthenticationResultsHeader,
                  from_domain: str) -> SenderTrust:
    found = {"pass": False, "fail": False}
    for result in header.results:
        method, verdict = str(result.method).lower(), str(result.result).lower()
        if method == "dmarc":
            if verdict == "pass" and aligned(_property(result, "header", "from") or
                                             from_domain, from_domain):
                return SenderTrust.PASS
            if verdict == "fail":
                found["fail"] = True
        elif method == "dkim":
            signer = _property(result, "header", "d") or _property(result, "header", "i")
            if verdict == "pass" and aligned(signer, from_domain):
                found["pass"] = True
            elif verdict in ("fail", "permerror") and aligned(signer or from_domain,
                                                              from_domain):
                found["fail"] = True
        elif method == "spf":
            sender = _property(result, "smtp", "mailfrom")
            if verdict == "pass" and aligned(sender, from_domain):
                found["pass"] = True
            elif verdict in ("fail", "softfail") and aligned(sender or from_domain,
                                                             from_domain):
                found["fail"] = True
    if found["pass"]:
        return SenderTrust.PASS
    return SenderTrust.FAIL if found["fail"] else SenderTrust.NONE


def _dkim_check(raw: bytes, from_domain: str, dns_txt: DnsTxt | None) -> Authentication:
    """Our own DKIM verification of each signature (at most a few)."""
    checker = dkim.DKIM(raw, logger=log, minkey=1024)
    signatures = [name for name, _ in checker.headers
                  if name.lower() == b"dkim-signature"][:MAX_SIGNATURES]
    failed = False
    for index in range(len(signatures)):
        try:
            good = checker.verify(idx=index, dnsfunc=dns_txt or dkim.dnsplug.get_txt)
        except Exception:  # noqa: BLE001 - a broken signature or DNS answer is a failure
            good = False
        signer = (checker.domain or b"").decode("ascii", "replace")
        if good and aligned(signer, from_domain):
            return Authentication(SenderTrust.PASS, f"dkim:{signer}")
        failed = failed or aligned(signer, from_domain)
    return Authentication(SenderTrust.FAIL if failed else SenderTrust.NONE,
                          "dkim" if failed else "")


def authenticate(raw: bytes, from_address: str, *, trusted_authserv_ids: frozenset[str],
                 verify_dkim: bool = False, dns_txt: DnsTxt | None = None) -> Authentication:
    """The sender's authentication as the core needs it; never raises on content."""
    from_domain = from_address.rpartition("@")[2]
    if not from_domain:
        return Authentication(SenderTrust.NONE, "")
    verdict = Authentication(SenderTrust.NONE, "")
    try:
        header = _results_header(raw, trusted_authserv_ids)
    except Exception:  # noqa: BLE001 - unreadable headers say nothing
        header = None
    if header is not None:
        verdict = Authentication(_from_results(header, from_domain),
                                 f"authserv:{header.authserv_id}")
    if verdict.trust is not SenderTrust.PASS and verify_dkim:
        own = _dkim_check(raw, from_domain, dns_txt)
        if own.trust is SenderTrust.PASS or verdict.trust is SenderTrust.NONE:
            verdict = own
    return verdict
