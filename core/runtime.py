"""The one place that builds the parts (database, service, outbox worker, adapters).

Adapters (the e-mail inbox, the Slack app) are found through the ``intake.adapters``
entry point group, so ``core`` never imports them: each is a factory returning an
object with ``name``, ``enabled(runtime)``, ``async start(runtime)`` and ``async stop()``.
"""

from __future__ import annotations

import asyncio
import gc
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any, Protocol

from core.chat import ChatHandler
from core.inbound import InboundLog
from core.outbox import Deliverer, OutboxWorker
from core.render import Renderer
from core.review import ReviewDesk
from core.service import CardFetchFailed, IntakeService
from core.settings import Settings
from core.storage.database import Database
from core.worker import ChannelHandler, EventWorker


class Adapter(Protocol):
    name: str

    def enabled(self, runtime: Runtime) -> bool: ...

    def register(self, runtime: Runtime) -> object:
        """Add this adapter's outbox deliverers to ``runtime.deliverers`` and its inbound
        handler to ``runtime.handlers`` (no servers): what a worker process needs."""
        ...

    async def start(self, runtime: Runtime) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    """Everything a running process shares, built once here and passed down.

    Adapters add their outbox deliverers and inbound handlers to it; ``inbound`` is the
    log they append to before acknowledging, ``events`` the worker that processes it.
    """

    settings: Settings
    db: Database
    service: IntakeService
    renderer: Renderer
    inbound: InboundLog
    events: EventWorker
    desk: ReviewDesk
    handlers: dict[str, ChannelHandler] = field(default_factory=dict)
    deliverers: dict[str, Deliverer] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    outbox: OutboxWorker | None = None

    def worker(self) -> OutboxWorker:
        """The outbox worker (one per process), with the operator's lease and give-up time."""
        if self.outbox is None:
            self.outbox = OutboxWorker(self.db, self.deliverers, clock=self.service.clock,
                                       lease=timedelta(seconds=self.settings.lease_seconds),
                                       give_up_after=self.settings.outbox_give_up_after)
            self.events.outbox = self.outbox
        return self.outbox


def _card_functions(settings: Settings) -> dict[str, Any]:
    """The card check and fetcher from ``core.cards``, bound to the settings' limits."""
    from core import cards

    def check(data: bytes, filename: str | None) -> Any:
        return cards.check_card(data, filename, max_bytes=settings.max_card_bytes)

    async def fetch(url: str) -> Any:
        from core.conversation import CardFile

        try:
            fetched = await cards.fetch_card(url, max_bytes=settings.max_card_bytes)
        except cards.CardFetchError as error:
            raise CardFetchFailed(str(error)) from error
        return CardFile(filename=fetched.filename, data=fetched.data, source_url=fetched.url)

    return {"check_card": check, "fetch_card": fetch,
            "card_url_for_location": cards.card_url_for_location}


def build_runtime(settings: Settings, db: Database | None = None,
                  **service_options: Any) -> Runtime:
    db = db or Database(settings.database_url)
    options = {**_card_functions(settings), **service_options}
    service = IntakeService(db, **options)
    inbound = InboundLog(db, clock=service.clock)
    handlers: dict[str, ChannelHandler] = {"chat": ChatHandler()}
    events = EventWorker(inbound, service, handlers,
                         lease=timedelta(seconds=settings.lease_seconds))
    runtime = Runtime(settings=settings, db=db, service=service, renderer=Renderer(),
                      inbound=inbound, events=events, desk=ReviewDesk(db, clock=service.clock),
                      handlers=handlers)
    runtime.worker()  # replies are delivered by the process that processed their event
    return runtime


def available_adapters() -> dict[str, Any]:
    """Adapter factories installed with the project and importable, by name."""
    found: dict[str, Any] = {}
    for entry_point in entry_points(group="intake.adapters"):
        try:
            found[entry_point.name] = entry_point.load()
        except ImportError:
            continue  # declared but not installed in this environment
    return found


async def run_parts(runtime: Runtime, names: list[str], with_worker: bool) -> None:
    """Start the named adapters (and the outbox worker) and run until cancelled.

    The worker delivers for every enabled adapter, started here or not, so the
    Procfile's separate ``worker`` process sends both e-mail and Slack messages.
    """
    await runtime.db.upgrade()
    started: list[Adapter] = []
    factories = available_adapters()
    try:
        for name, factory in factories.items():
            adapter: Adapter = factory()
            if not adapter.enabled(runtime):
                continue
            if name in names:
                await adapter.start(runtime)
                started.append(adapter)
            elif with_worker:
                adapter.register(runtime)  # `intake worker` delivers for every channel
        # Start-up objects live as long as the process: keep them out of the garbage
        # collector's full passes, which otherwise stall an acknowledgement now and then.
        gc.collect()
        gc.freeze()
        if with_worker:
            worker = runtime.worker()
            runtime.service.on_enqueued = worker.wakeup.set
            async with asyncio.TaskGroup() as group:
                group.create_task(runtime.events.run_forever(), name="inbound-worker")
                group.create_task(worker.run_forever(), name="outbox-worker")
        else:
            await asyncio.Event().wait()
    finally:
        for adapter in reversed(started):
            await adapter.stop()
        await runtime.inbound.close()
        await runtime.events.stop()
        await runtime.db.dispose()
