"""Benchmark: e-mails per second through the inbox, from SMTP accept to reply in the sink.

Fifty concurrent senders each keep one SMTP connection open and send complete
submissions (every field, the card attached); every message is logged, parsed,
turned into a conversation turn (the card checked), answered through the outbox and
delivered to a sink. The same messages are then sent, the same way, to a bare aiosmtpd
that accepts and discards them: the ratio says what the intake costs over the protocol.
Write transactions (COMMITs of a transaction that wrote) are counted per e-mail.

Then, in a fresh process, ten 20 MB e-mails are sent at once and answered; its peak RSS
is printed beside its RSS before they arrived.

    .venv/bin/python bench/mail.py [--messages 500] [--senders 50] [--database URL]
    .venv/bin/python bench/mail.py --memory-only [--big 10] [--big-mb 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.runtime import build_runtime, settle_startup_objects  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.storage.database import Database  # noqa: E402
from mail.adapter import MailAdapter  # noqa: E402
from mail.options import MailOptions  # noqa: E402

SUBMIT = "data@bench.test"
CARD = (ROOT / "tests" / "data" / "ocean_card.md").read_bytes()
BODY = """Hello,

Dataset name: Ocean Temperatures {index}
Dataset location: https://example.org/ocean/{index}
Hosting: no
Modalities: text
Domain: Marine

Best regards,
Sender {index}
"""


class Counter:
    """An SMTP handler that counts (and optionally keeps the time of) what it is given."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.arrivals: dict[str, float] = {}
        self.done = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session,  # noqa: N802
                          envelope: Envelope) -> str:
        self.count += 1
        content = envelope.original_content or b""
        for line in content.split(b"\r\n", 40):
            if line.lower().startswith(b"in-reply-to:"):
                self.arrivals[line.split(b":", 1)[1].strip().decode()] = time.perf_counter()
        if self.count >= self.expected:
            self.done.set()
        return "250 OK"


async def serve(handler: Counter, size_limit: int = 33_554_432) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(handler, hostname="bench.test", enable_SMTPUTF8=True,
                     data_size_limit=size_limit), host="127.0.0.1", port=0)


def messages(count: int) -> list[tuple[str, str, bytes]]:
    """(sender, Message-ID, bytes) of complete submissions with the card attached."""
    built = []
    for index in range(count):
        sender = f"sender{index}@example.org"
        message = EmailMessage()
        message["From"] = sender
        message["To"] = SUBMIT
        message["Subject"] = "I want to contribute an OTDI dataset"
        message["Message-ID"] = make_msgid(domain="example.org")
        message.set_content(BODY.format(index=index))
        message.add_attachment(CARD, maintype="text", subtype="markdown", filename="README.md")
        built.append((sender, str(message["Message-ID"]), message.as_bytes()))
    return built


async def send_all(port: int, batch: list[tuple[str, str, bytes]], senders: int,
                   sent_at: dict[str, float]) -> None:
    """``senders`` concurrent clients, one connection each, sharing the batch."""
    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for item in batch:
        queue.put_nowait(item)

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="client.test",
                               start_tls=False, timeout=120)
        await smtp.connect()
        while not queue.empty():
            sender, message_id, data = queue.get_nowait()
            sent_at[message_id] = time.perf_counter()
            await smtp.sendmail(sender, [SUBMIT], data)
        await smtp.quit()

    await asyncio.gather(*(client() for _ in range(senders)))


async def timed(run: Callable[[], Awaitable[None]]) -> float:
    start = time.perf_counter()
    await run()
    return time.perf_counter() - start


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Commits:
    """COMMITs on an engine, and how many of them ended a transaction that wrote."""

    def __init__(self, db: Database) -> None:
        self.total = 0
        self.writes = 0
        engine = db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            connection.info["wrote"] = True

    def _commit(self, connection: Any) -> None:
        self.total += 1
        self.writes += bool(connection.info.pop("wrote", False))

    def reset(self) -> None:
        self.total = self.writes = 0


async def start_intake(database: str, sink_port: int, options: MailOptions
                       ) -> tuple[Any, MailAdapter, list[asyncio.Task[Any]], Commits]:
    """The inbox as ``intake serve`` runs it: SMTP, the event worker, the outbox worker."""
    settings = Settings(_env_file=None, INTAKE_DATABASE_URL=database, INTAKE_SMTP_PORT=0,
                        INTAKE_SUBMIT_ADDRESS=SUBMIT, INTAKE_RELAY_HOST="127.0.0.1",
                        INTAKE_RELAY_PORT=sink_port)
    db = Database(database)
    await db.upgrade()
    commits = Commits(db)
    runtime = build_runtime(settings, db)
    adapter = MailAdapter(options)
    await adapter.start(runtime)
    worker = runtime.worker()
    runtime.service.on_enqueued = worker.wakeup.set
    tasks = [asyncio.create_task(worker.run_forever(poll_seconds=0.2))]
    events = getattr(runtime, "events", None)
    if events is not None:
        tasks.append(asyncio.create_task(events.run_forever()))
    settle_startup_objects()  # as `intake serve` does once it listens
    return runtime, adapter, tasks, commits


async def stop_intake(runtime: Any, adapter: MailAdapter, tasks: list[asyncio.Task[Any]]
                      ) -> None:
    for task in tasks:
        while not task.done():
            task.cancel()
            for child in asyncio.all_tasks():
                if child.get_name().startswith("outbox:"):
                    child.cancel()  # see tests/mail/conftest.py: stop_intake
            await asyncio.wait({task}, timeout=0.1)
    await adapter.stop()
    await runtime.db.dispose()


async def baseline(batch: list[tuple[str, str, bytes]], senders: int) -> float:
    counter = Counter(len(batch))
    server = await serve(counter)
    port = server.sockets[0].getsockname()[1]

    async def run() -> None:
        await send_all(port, batch, senders, {})
        await counter.done.wait()

    seconds = await timed(run)
    server.close()
    return seconds


async def intake(batch: list[tuple[str, str, bytes]], senders: int, database: str
                 ) -> tuple[float, list[float], float, Commits]:
    """(seconds for the batch, each message's accept -> reply latency, one alone's latency,
    the commits the batch took)."""
    alone = messages(len(batch) + 2)[-2:]
    sink = Counter(1)
    sink_server = await serve(sink)
    runtime, adapter, tasks, commits = await start_intake(
        database, sink_server.sockets[0].getsockname()[1], MailOptions(_env_file=None))
    sent_at: dict[str, float] = {}

    async def run() -> None:
        sink.expected, sink.count = len(batch), 0
        sink.done.clear()
        await send_all(adapter.port, batch, senders, sent_at)
        await asyncio.wait_for(sink.done.wait(), timeout=600)

    try:
        first: dict[str, float] = {}
        for one in alone:  # the first warms caches (templates, compiled SQL); time the second
            sink.done.clear()
            await send_all(adapter.port, [one], 1, first)
            await asyncio.wait_for(sink.done.wait(), timeout=60)
        single = sink.arrivals[alone[-1][1]] - first[alone[-1][1]]
        await asyncio.sleep(0.5)  # let the warm-up's last delivery be recorded, then count
        commits.reset()
        seconds = await timed(run)
        await asyncio.sleep(1.0)  # the last deliveries are marked sent after the sink has them
    finally:
        await stop_intake(runtime, adapter, tasks)
        sink_server.close()
    latencies = [sink.arrivals[m] - sent_at[m] for m in sent_at if m in sink.arrivals]
    return seconds, latencies, single, commits


def current_rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def big_messages(count: int, megabytes: int) -> list[tuple[str, str, bytes]]:
    """(sender, Message-ID, bytes) of submissions with a ``megabytes`` MB attachment."""
    built = []
    blob = os.urandom(megabytes * 2**20 * 3 // 4 - 20_000)  # base64 makes it ~megabytes
    for index in range(count):
        sender = f"big{index}@example.org"
        message = EmailMessage()
        message["From"] = sender
        message["To"] = SUBMIT
        message["Subject"] = "A large dataset sample"
        message["Message-ID"] = make_msgid(domain="example.org")
        message.set_content(BODY.format(index=index))
        message.add_attachment(CARD, maintype="text", subtype="markdown", filename="README.md")
        message.add_attachment(blob, maintype="application", subtype="octet-stream",
                               filename="sample.bin")
        built.append((sender, str(message["Message-ID"]), message.as_bytes()))
    return built


async def memory(count: int, megabytes: int) -> None:
    """Ten (``count``) large e-mails at once, each from its own connection, all answered."""
    batch = big_messages(count, megabytes)
    size = sum(len(data) for _s, _m, data in batch) / len(batch) / 2**20
    database = f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/memory.db"
    sink = Counter(count)
    sink_server = await serve(sink)
    runtime, adapter, tasks, _commits = await start_intake(
        database, sink_server.sockets[0].getsockname()[1], MailOptions(_env_file=None))
    before = current_rss_mib()
    try:
        await send_all(adapter.port, batch, count, {})
        await asyncio.wait_for(sink.done.wait(), timeout=600)
    finally:
        await stop_intake(runtime, adapter, tasks)
        sink_server.close()
    peak = peak_rss_mib()
    print(f"memory: {count} concurrent e-mails of {size:.1f} MiB: RSS {before:.0f} MiB before "
          f"(the messages built in memory by the senders included), peak {peak:.0f} MiB; "
          f"{(peak - before) / count:.0f} MiB per message over it "
          f"({(peak - before) / count / size:.1f}x its size)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--database", help="SQLAlchemy async URL (default: a new SQLite file)")
    parser.add_argument("--memory-only", action="store_true",
                        help="only the large-message memory run (in this process)")
    parser.add_argument("--big", type=int, default=10, help="large e-mails sent at once")
    parser.add_argument("--big-mb", type=int, default=20, help="size of each large e-mail")
    args = parser.parse_args()
    if args.memory_only:
        await memory(args.big, args.big_mb)
        return
    database = args.database or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    batch = messages(args.messages)
    size = sum(len(data) for _s, _m, data in batch) / len(batch)

    bare = await baseline(batch, args.senders)
    rss_bare = peak_rss_mib()
    full, latencies, single, commits = await intake(batch, args.senders, database)
    rss_full = peak_rss_mib()

    bare_rate, full_rate = len(batch) / bare, len(batch) / full
    quantiles = statistics.quantiles(latencies, n=20)
    print(f"messages: {len(batch)} of {size / 1024:.1f} KiB (card attached), "
          f"{args.senders} concurrent senders, database {database.split(':')[0]}")
    print(f"bare aiosmtpd (accept and discard): {bare_rate:8.1f} msg/s  ({bare:.2f} s)")
    print(f"intake (accept -> reply in sink):   {full_rate:8.1f} msg/s  ({full:.2f} s)")
    print(f"ratio intake / bare:                {full_rate / bare_rate:8.3f}")
    print(f"accept -> reply latency under this load: p50 {statistics.median(latencies) * 1000:.0f}"
          f" ms, p95 {quantiles[18] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"one message alone: {single * 1000:.0f} ms")
    print(f"write transactions per e-mail: {commits.writes / len(batch):.2f} "
          f"({commits.writes} for {len(batch)}; all COMMITs, reads included: "
          f"{commits.total / len(batch):.2f} per e-mail)")
    print(f"peak RSS: {rss_bare:.0f} MiB after the bare run, {rss_full:.0f} MiB after the intake")
    sys.stdout.flush()
    subprocess.run([sys.executable, __file__, "--memory-only", "--big", str(args.big),
                    "--big-mb", str(args.big_mb)], check=False)


if __name__ == "__main__":
    asyncio.run(main())
