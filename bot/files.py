"""Downloading a file a contributor shared, with the bot token, within the card size limit.

The size is checked from Slack's file object before any byte is fetched; the
download is capped again while reading, because the object can be wrong. Slack
answers a request without a valid token with an HTML login page and status 200, so
an HTML answer for a file that is not HTML counts as a failure, not as the card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp

CARD_SUFFIXES = (".md", ".markdown", ".txt")
CHUNK = 65536
# Slack's filetype of a text file that may have no suffix: a snippet or a pasted text
# ("Untitled"), named after what Slack says it is so the card check can read it.
TEXT_FILETYPES = {"markdown": ".md", "text": ".txt", "post": ".md"}


class DownloadFailed(Exception):
    """A file could not be fetched; ``code`` picks the sentence in download_failed.j2."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class SlackFile:
    """The parts of Slack's file object the adapter uses."""

    id: str
    name: str
    size: int | None
    mimetype: str
    url: str | None
    needs_info: bool = False

    @classmethod
    def from_slack(cls, obj: dict[str, Any]) -> SlackFile:
        size = obj.get("size")
        name = str(obj.get("name") or obj.get("title") or "card.md")
        suffix = TEXT_FILETYPES.get(str(obj.get("filetype") or ""))
        if suffix and "." not in name.rsplit("/", 1)[-1]:
            name += suffix
        return cls(id=str(obj.get("id", "")), name=name,
                   size=size if isinstance(size, int) else None,
                   mimetype=str(obj.get("mimetype") or ""),
                   url=obj.get("url_private_download") or obj.get("url_private"),
                   needs_info=obj.get("file_access") == "check_file_info")

    def too_large(self, limit: int) -> bool:
        return self.size is not None and self.size > limit


def choose_card(files: list[dict[str, Any]]) -> tuple[SlackFile, list[str]]:
    """The file most likely to be the card, and the names of the others (not used): a
    README first (a card is the dataset's README.md), then any text file."""
    parsed = [SlackFile.from_slack(f) for f in files]
    card = next((f for f in parsed if f.name.lower().startswith("readme")
                 and f.name.lower().endswith(CARD_SUFFIXES)), None)
    card = card or next((f for f in parsed if f.name.lower().endswith(CARD_SUFFIXES)), None)
    card = card or next((f for f in parsed if f.mimetype.startswith("text/")), parsed[0])
    return card, [f.name for f in parsed if f is not card]


FileInfo = Callable[[str], Awaitable[dict[str, Any]]]


class Downloader:
    """Fetches ``url_private_download`` with the bot token; only from Slack's own hosts."""

    def __init__(self, session: aiohttp.ClientSession, token: str, max_bytes: int,
                 allowed_hosts: set[str], file_info: FileInfo | None = None,
                 timeout: float = 20.0) -> None:
        self.session = session
        self.token = token
        self.max_bytes = max_bytes
        self.allowed_hosts = allowed_hosts
        self.file_info = file_info
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    def _allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        return parts.scheme in ("https", "http") and (
            host in self.allowed_hosts or host == "slack.com" or host.endswith(".slack.com")
            or host.endswith(".slack-edge.com"))

    async def complete(self, file: SlackFile) -> SlackFile:
        """Ask ``files.info`` when the event's object is partial (Slack Connect, old events)."""
        if (file.url and not file.needs_info) or self.file_info is None or not file.id:
            return file
        info = await self.file_info(file.id)
        return SlackFile.from_slack({**info, "name": info.get("name") or file.name})

    async def fetch(self, file: SlackFile) -> bytes:
        """The file's bytes, or ``DownloadFailed``; never more than ``max_bytes``."""
        if file.too_large(self.max_bytes):
            raise DownloadFailed("too_large")
        if not file.url or not self._allowed(file.url):
            raise DownloadFailed("missing_url")
        headers = {"Authorization": f"Bearer {self.token}"}
        try:
            async with self.session.get(file.url, headers=headers, timeout=self.timeout,
                                        allow_redirects=True) as response:
                if response.status != 200:
                    raise DownloadFailed("http_error")
                if response.content_type == "text/html" and file.mimetype != "text/html":
                    raise DownloadFailed("login_page")
                data = bytearray()
                async for chunk in response.content.iter_chunked(CHUNK):
                    data += chunk
                    if len(data) > self.max_bytes:
                        raise DownloadFailed("too_large")
                return bytes(data)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise DownloadFailed("network") from error
