"""Per-contributor helpers: the profile e-mail (``users.info``), ordering, work in flight.

The profile address is offered as the contact address; a failed look-up only means no
offer, never a failed turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable

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


class InFlight:
    """Listener work still running after its acknowledgement: counted, and bounded.

    Counted so a stop can wait for it (Slack will not resend an acknowledged event, so
    work cut off at shutdown would be lost); bounded so a burst of events queues here
    instead of exhausting the database connection pool.
    """

    def __init__(self, concurrency: int = 8) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._slots = asyncio.Semaphore(concurrency)

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        self.count += 1
        self._idle.clear()
        try:
            async with self._slots:
                yield
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait(self, timeout: float) -> bool:
        """True when everything finished within ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True


class KeyedLocks:
    """One lock per contributor, so their events are taken in arrival order."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    def __call__(self, key: str) -> _Held:
        return _Held(self, key)

    def _acquire_ref(self, key: str) -> asyncio.Lock:
        lock, count = self._locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self._locks[key] = (lock, count + 1)
        return lock

    def _release_ref(self, key: str) -> None:
        lock, count = self._locks[key]
        if count <= 1:
            del self._locks[key]
        else:
            self._locks[key] = (lock, count - 1)


class _Held:
    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self.owner = owner
        self.key = key
        self.lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        self.lock = self.owner._acquire_ref(self.key)
        try:
            await self.lock.acquire()
        except BaseException:
            self.owner._release_ref(self.key)
            raise

    async def __aexit__(self, *exc: object) -> None:
        assert self.lock is not None
        self.lock.release()
        self.owner._release_ref(self.key)
