"""The profile e-mail (``users.info``), looked up when an event is translated.

The profile address is offered as the contact address; a failed look-up only means no
offer, never a failed turn.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


class ProfileEmails:
    """``users.info`` lookups cached per user (an hour; a failure for a minute)."""

    def __init__(self, client: AsyncWebClient, *, ttl: float = 3600.0,
                 failure_ttl: float = 60.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.ttl = ttl
        self.failure_ttl = failure_ttl
        self.size = size
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, str | None]] = OrderedDict()

    async def email(self, user_id: str, timeout: float = 5.0) -> str | None:
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] > self.clock():
            return cached[1]
        try:
            response = await asyncio.wait_for(self.client.users_info(user=user_id), timeout)
            profile = (response.get("user") or {}).get("profile") or {}
            email = profile.get("email") or None
            expires = self.clock() + self.ttl
        except (SlackApiError, TimeoutError, OSError):
            email, expires = None, self.clock() + self.failure_ttl
        self._cache[user_id] = (expires, email)
        self._cache.move_to_end(user_id)
        if len(self._cache) > self.size:
            self._cache.popitem(last=False)
        return email
