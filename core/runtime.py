"""The one place that builds the parts (database, service, outbox worker, adapters).

Adapters (the e-mail inbox, the Slack app) are found through the ``intake.adapters``
entry point group, so ``core`` never imports them: each is a factory returning an
object with ``name``, ``enabled(runtime)``, ``async start(runtime)`` and ``async stop()``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any, Protocol

from core.chat import ChatHandler
from core.inbound import InboundLog
from core.logs import event as log_event
from core.metrics import Metrics
from core.outbox import Deliverer, OutboxWorker
from core.render import Renderer
from core.review import ReviewDesk
from core.service import CardFetchFailed, IntakeService
from core.settings import Settings
from core.startup import StartupError, listen_failed, upgrade_database
from core.storage.database import Database
from core.worker import ChannelHandler, EventWorker

log = logging.getLogger(__name__)
# The listeners an adapter binds, by entry point name: what, and the settings placing it.
LISTENERS = {"mail": ("SMTP", "INTAKE_SMTP_HOST", "INTAKE_SMTP_PORT", "smtp_host"),
             "web": ("HTTP", "INTAKE_HTTP_HOST", "INTAKE_HTTP_PORT", "http_host")}


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
    metrics: Metrics = field(default_factory=Metrics)

    outbox: OutboxWorker | None = None

    def worker(self) -> OutboxWorker:
        """The outbox worker (one per process), with the operator's lease and give-up time."""
        if self.outbox is None:
            self.outbox = OutboxWorker(self.db, self.deliverers, clock=self.service.clock,
                                       lease=timedelta(seconds=self.settings.lease_seconds),
                                       give_up_after=self.settings.outbox_give_up_after,
                                       metrics=self.metrics)
            self.events.outbox = self.outbox
        return self.outbox


def _card_functions(settings: Settings, metrics: Metrics | None = None) -> dict[str, Any]:
    """The card check and fetcher from ``core.cards``, bound to the settings' limits; each
    check is counted and logged (verdict and sizes, never the card's contents)."""
    from core import cards

    def check(data: bytes, filename: str | None) -> Any:
        started = time.perf_counter()
        report = cards.check_card(data, filename, max_bytes=settings.max_card_bytes)
        seconds = time.perf_counter() - started
        if metrics is not None:
            metrics.cards.labels(report.verdict).inc()
            metrics.card_seconds.observe(seconds)
        log_event(log, "card checked", verdict=report.verdict, errors=len(report.errors),
                  warnings=len(report.warnings), bytes=len(data),
                  sha256=(report.sha256 or "")[:12] or None, ms=round(seconds * 1000, 1))
        return report

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
    metrics = Metrics()
    options = {**_card_functions(settings, metrics),
               "require_sender_auth": settings.require_sender_auth,
               "confirm_within": settings.confirm_within, **service_options}
    service = IntakeService(db, **options)
    deliverers: dict[str, Deliverer] = {}
    metrics.watch(db, service.clock, channels=deliverers.keys)
    inbound = InboundLog(db, clock=service.clock, metrics=metrics)
    handlers: dict[str, ChannelHandler] = {"chat": ChatHandler()}
    events = EventWorker(inbound, service, handlers,
                         lease=timedelta(seconds=settings.lease_seconds), metrics=metrics)
    runtime = Runtime(settings=settings, db=db, service=service, renderer=Renderer(),
                      inbound=inbound, events=events,
                      desk=ReviewDesk(db, clock=service.clock, metrics=metrics),
                      handlers=handlers, deliverers=deliverers, metrics=metrics)
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


@dataclass(frozen=True)
class Listening:
    """A bound listener, for the banner: ``SMTP 127.0.0.1:8025``."""

    what: str
    host: str
    port: int


async def run_parts(runtime: Runtime, names: list[str], with_worker: bool,
                    on_ready: Callable[[list[Listening]], None] | None = None) -> None:
    """Start the named adapters (and the outbox worker) and run until cancelled.

    The worker delivers for every enabled adapter, started here or not, so the
    Procfile's separate ``worker`` process sends both e-mail and Slack messages. In
    order: the database, each adapter's ``verify`` (a Slack token Slack refuses), the
    listeners, then ``on_ready`` with every address bound (the banner); any of them
    failing is a ``StartupError``.
    """
    await upgrade_database(runtime.db)
    started: list[Adapter] = []
    metrics_runner: Any = None
    factories = available_adapters()
    undo_sigterm = stop_on_sigterm()
    try:
        chosen: list[tuple[str, Adapter]] = []
        for name, factory in factories.items():
            adapter: Adapter = factory()
            if adapter.enabled(runtime) and (name in names or with_worker):
                chosen.append((name, adapter))
        for _name, adapter in chosen:
            verify = getattr(adapter, "verify", None)
            if verify is not None:
                await verify(runtime)
        listening: list[Listening] = []
        for name, adapter in chosen:
            if name not in names:
                adapter.register(runtime)  # `intake worker` delivers for every channel
                started.append(adapter)  # stopped too: its clients are closed
                continue
            what, host_setting, port_setting, host_field = LISTENERS.get(
                name, (name, "", "", ""))
            host = str(getattr(runtime.settings, host_field, "") or "")
            started.append(adapter)  # stopped even if it fails half-way (its clients)
            try:
                await adapter.start(runtime)
            except OSError as error:
                port = int(getattr(runtime.settings, host_field.replace("host", "port"), 0))
                raise listen_failed(what, host, port, host_setting, port_setting,
                                    error) from None
            port = getattr(adapter, "port", None)
            if isinstance(port, int):
                listening.append(Listening(what, host, port))
        if runtime.settings.metrics_port is not None:
            host, port = runtime.settings.http_host, runtime.settings.metrics_port
            try:
                metrics_runner = await runtime.metrics.serve(host, port)
            except OSError as error:
                raise listen_failed("metrics", host, port, "INTAKE_HTTP_HOST",
                                    "INTAKE_METRICS_PORT", error) from None
            listening.append(Listening("metrics", host, _runner_port(metrics_runner)))
        if on_ready is not None:
            on_ready(listening)
        settle_startup_objects()
        if with_worker:
            worker = runtime.worker()
            runtime.service.on_enqueued = worker.wakeup.set
            async with asyncio.TaskGroup() as group:
                group.create_task(runtime.events.run_forever(), name="inbound-worker")
                group.create_task(worker.run_forever(), name="outbox-worker")
        else:
            await asyncio.Event().wait()
    finally:
        undo_sigterm()
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        for adapter in reversed(started):
            await adapter.stop()
        await runtime.inbound.close()
        await runtime.events.stop()
        await runtime.db.dispose()


def stop_on_sigterm() -> Callable[[], None]:
    """SIGTERM (``docker stop``, systemd, a Procfile platform) stops as Ctrl+C does: the
    running task is cancelled, so listeners close, the worker lets go of its claims and
    the database is disposed, instead of the process dying mid-delivery. Returns the undo.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    if task is None:
        return lambda: None

    def stop() -> None:
        log_event(log, "stopping", signal="SIGTERM")
        task.cancel("SIGTERM")

    try:
        loop.add_signal_handler(signal.SIGTERM, stop)
    except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, Windows
        return lambda: None
    return lambda: loop.remove_signal_handler(signal.SIGTERM)


def settle_startup_objects() -> None:
    """Start-up objects live as long as the process: keep them out of the garbage
    collector's full passes, which otherwise stall an acknowledgement now and then
    (one full pass over them is ~90 ms: the ack p99 of a Slack burst)."""
    gc.collect()
    gc.freeze()


def _runner_port(runner: Any) -> int:
    """The port an aiohttp runner bound (``INTAKE_METRICS_PORT=0`` picks a free one)."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise StartupError("the metrics listener is not listening")
