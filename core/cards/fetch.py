"""Fetch a card from an https URL: capped in size and time, https all the way.

A Hugging Face dataset page URL is turned into the README's raw URL, and a
GitHub file page into its raw.githubusercontent.com URL, so the bytes fetched
are the card and not an HTML page about it. By default a host that resolves to a
private, loopback or link-local address is refused: contributor URLs must not
reach the bot's own network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from core.cards.findings import renderer
from core.cards.reading import ALLOWED_EXTENSIONS, extension_of

MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_HF_HOSTS = frozenset({"huggingface.co", "www.huggingface.co", "hf.co"})
_GITHUB_HOSTS = frozenset({"github.com", "www.github.com"})
_HF_FILE_VIEWS = ("tree", "blob", "raw", "resolve")
_ACCEPT = "text/markdown, text/plain;q=0.9, */*;q=0.1"


@dataclass(frozen=True)
class FetchedCard:
    """The card's bytes, a filename for the extension check, and the final URL."""

    data: bytes
    filename: str
    url: str


class CardFetchError(Exception):
    """A card URL that was refused or could not be fetched; ``message`` is for people."""

    def __init__(self, code: str, message: str, context: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.context = dict(context or {})


def refusal(code: str, **context: Any) -> CardFetchError:
    """A CardFetchError whose message comes from ``card_fetch_error.j2``."""
    message = renderer().render("card_fetch_error", {"code": code, **context})
    return CardFetchError(code, message, context)


def _parts(url: str) -> tuple[str, str, list[str]]:
    split = urlsplit(url.strip())
    return split.scheme.lower(), (split.hostname or "").lower(), \
        [part for part in split.path.split("/") if part]


def hf_dataset_readme_url(url: str, *, root_readme: bool = False) -> str | None:
    """Raw URL of the card for a Hugging Face dataset URL, or None for other URLs.

    ``/datasets/ORG/NAME`` (with ``/tree/REV`` or any page after it) gives
    ``raw/REV/README.md``; ``/blob/REV/PATH``, ``/raw/...`` and ``/resolve/...`` give
    ``raw/REV/PATH`` unless ``root_readme`` asks for the dataset's README anyway.
    """
    scheme, host, parts = _parts(url)
    if scheme != "https" or host not in _HF_HOSTS or len(parts) < 2 or parts[0] != "datasets":
        return None
    named = len(parts) >= 3 and parts[2] not in _HF_FILE_VIEWS
    repo = parts[1:3] if named else parts[1:2]
    rest = parts[1 + len(repo):]
    revision, path = "main", ["README.md"]
    if len(rest) >= 2 and rest[0] in _HF_FILE_VIEWS:
        revision = rest[1]
        if rest[0] != "tree" and len(rest) > 2 and not root_readme:
            path = rest[2:]
    return "https://huggingface.co/datasets/" + "/".join([*repo, "raw", revision, *path])


def github_raw_url(url: str, *, root_readme: bool = False) -> str | None:
    """raw.githubusercontent.com URL for a github.com repository, folder or file URL."""
    scheme, host, parts = _parts(url)
    if scheme != "https" or host not in _GITHUB_HOSTS or len(parts) < 2:
        return None
    owner, repo, rest = parts[0], parts[1].removesuffix(".git"), parts[2:]
    ref, path = "HEAD", ["README.md"]
    if len(rest) >= 2 and rest[0] in ("blob", "tree", "raw"):
        ref = rest[1]
        if rest[0] == "tree":
            path = [*rest[2:], "README.md"]
        elif not root_readme and len(rest) > 2:
            path = rest[2:]
    elif rest and not root_readme:
        return None
    return "https://raw.githubusercontent.com/" + "/".join([owner, repo, ref, *path])


def card_url_for_location(location: str) -> str | None:
    """The README URL to fetch when the dataset's location holds its card."""
    return (hf_dataset_readme_url(location, root_readme=True)
            or github_raw_url(location, root_readme=True))


def _raw_url(url: str) -> str:
    return hf_dataset_readme_url(url) or github_raw_url(url) or url


def is_public_address(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return True
    return address.is_global and not address.is_multicast


class _PrivateAddressError(Exception):
    def __init__(self, host: str) -> None:
        super().__init__(host)
        self.host = host


class GuardedResolver(AbstractResolver):
    """Resolver that drops private addresses (unless allowed) from the answers."""

    def __init__(self, inner: AbstractResolver, allow_private: bool) -> None:
        self._inner = inner
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        if self._allow_private:
            return answers
        public = [answer for answer in answers if is_public_address(answer["host"])]
        if not public:
            raise _PrivateAddressError(host)
        return public

    async def close(self) -> None:
        await self._inner.close()


def _filename(url: str, content_type: str) -> str:
    name = unquote(PurePosixPath(urlsplit(url).path).name)
    if extension_of(name) in ALLOWED_EXTENSIONS:
        return name
    if content_type == "text/markdown":
        return (name or "card") + ".md"
    if content_type == "text/plain":
        return (name or "card") + ".txt"
    return name or "card"


async def fetch_card(url: str, *, max_bytes: int = 1_048_576, timeout: float = 15.0,
                     ssl_context: ssl.SSLContext | None = None,
                     resolver: AbstractResolver | None = None,
                     allow_private: bool = False) -> FetchedCard:
    """Fetch a card over https, refusing anything unsafe with a CardFetchError."""
    scheme, host, _ = _parts(url)
    if scheme != "https" or not host:
        raise refusal("not_https", url=url)
    target = _raw_url(url)
    guarded = GuardedResolver(resolver or DefaultResolver(), allow_private)
    connector = aiohttp.TCPConnector(ssl=ssl_context or True, resolver=guarded)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    try:
        async with asyncio.timeout(timeout), aiohttp.ClientSession(
                connector=connector, timeout=client_timeout, trust_env=False) as session:
            return await _follow(session, target, max_bytes, allow_private)
    except TimeoutError:
        raise refusal("timeout", url=target, seconds=timeout) from None
    except _PrivateAddressError as exc:
        raise refusal("private_address", url=target, host=exc.host) from None
    except aiohttp.ClientConnectorCertificateError as exc:
        raise refusal("tls", url=target, detail=str(exc.certificate_error)) from None
    except aiohttp.ClientError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, _PrivateAddressError) else None
        if cause is not None:
            raise refusal("private_address", url=target, host=cause.host) from None
        raise refusal("unreachable", url=target, detail=str(exc) or type(exc).__name__) from None
    finally:
        await connector.close()
        if resolver is None:
            await guarded.close()


async def _follow(session: aiohttp.ClientSession, url: str, max_bytes: int,
                  allow_private: bool) -> FetchedCard:
    for _ in range(MAX_REDIRECTS + 1):
        _check_literal_host(url, allow_private)
        async with session.get(url, allow_redirects=False,
                               headers={"Accept": _ACCEPT}) as response:
            if response.status in _REDIRECTS:
                location = response.headers.get("Location", "")
                if not location:
                    raise refusal("http_error", url=url, status=response.status)
                next_url = urljoin(url, location)
                if urlsplit(next_url).scheme.lower() != "https":
                    raise refusal("redirect_not_https", url=url, location=next_url)
                url = next_url
                continue
            if response.status != 200:
                raise refusal("http_error", url=url, status=response.status)
            data = await _read_capped(response, url, max_bytes)
            content_type = response.content_type or ""
            filename = _filename(url, content_type)
            if content_type == "text/html" and extension_of(filename) not in ALLOWED_EXTENSIONS:
                raise refusal("html_page", url=url)
            return FetchedCard(data, filename, url)
    raise refusal("too_many_redirects", url=url, limit=MAX_REDIRECTS)


def _check_literal_host(url: str, allow_private: bool) -> None:
    host = urlsplit(url).hostname or ""
    if not allow_private and not is_public_address(host):
        raise _PrivateAddressError(host)


async def _read_capped(response: aiohttp.ClientResponse, url: str, max_bytes: int) -> bytes:
    if response.content_length is not None and response.content_length > max_bytes:
        raise refusal("too_big", url=url, max_bytes=max_bytes, size=response.content_length)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            raise refusal("too_big", url=url, max_bytes=max_bytes, size=None)
        chunks.append(chunk)
    return b"".join(chunks)
