"""Benchmark: e-mails per second through the inbox, from SMTP accept to reply in the sink.

Fifty concurrent senders each keep one SMTP connection open and send complete
submissions (every field, the card attached); every message is stored, parsed,
turned into a conversation turn (the card checked), answered through the outbox and
delivered to a sink. The same messages are then sent, the same way, to a bare aiosmtpd
that accepts and discards them: the ratio says what the intake costs over the protocol.

    .venv/bin/python bench/mail.py [--messages 500] [--senders 50] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.runtime import build_runtime  # noqa: E402
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


async def intake(batch: list[tuple[str, str, bytes]], senders: int, database: str,
                 concurrency: int) -> tuple[float, list[float], float]:
    """(seconds for the batch, each message's accept -> reply latency, one alone's latency)."""
    alone = messages(len(batch) + 2)[-2:]
    sink = Counter(1)
    sink_server = await serve(sink)
    settings = Settings(_env_file=None, INTAKE_DATABASE_URL=database, INTAKE_SMTP_PORT=0,
                        INTAKE_SUBMIT_ADDRESS=SUBMIT, INTAKE_RELAY_HOST="127.0.0.1",
                        INTAKE_RELAY_PORT=sink_server.sockets[0].getsockname()[1])
    db = Database(database)
    await db.upgrade()
    runtime = build_runtime(settings, db)
    adapter = MailAdapter(MailOptions(_env_file=None, concurrency=concurrency))
    await adapter.start(runtime)
    worker = runtime.worker()
    runtime.service.on_enqueued = worker.wakeup.set
    worker_task = asyncio.create_task(worker.run_forever(poll_seconds=0.2))
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
        seconds = await timed(run)
    finally:
        while not worker_task.done():
            worker_task.cancel()
            await asyncio.wait({worker_task}, timeout=0.1)
        await adapter.stop()
        sink_server.close()
        await db.dispose()
    latencies = [sink.arrivals[m] - sent_at[m] for m in sent_at if m in sink.arrivals]
    return seconds, latencies, single


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=MailOptions(_env_file=None).concurrency,
                        help="messages the inbox processes at once")
    parser.add_argument("--database", help="SQLAlchemy async URL (default: a new SQLite file)")
    args = parser.parse_args()
    database = args.database or f"sqlite+aiosqlite:///{tempfile.mkdtemp()}/bench.db"
    batch = messages(args.messages)
    size = sum(len(data) for _s, _m, data in batch) / len(batch)

    bare = await baseline(batch, args.senders)
    rss_bare = peak_rss_mib()
    full, latencies, single = await intake(batch, args.senders, database, args.concurrency)
    rss_full = peak_rss_mib()

    bare_rate, full_rate = len(batch) / bare, len(batch) / full
    quantiles = statistics.quantiles(latencies, n=20)
    print(f"messages: {len(batch)} of {size / 1024:.1f} KiB (card attached), "
          f"{args.senders} concurrent senders, database {database.split(':')[0]}, "
          f"inbox concurrency {args.concurrency}")
    print(f"bare aiosmtpd (accept and discard): {bare_rate:8.1f} msg/s  ({bare:.2f} s)")
    print(f"intake (accept -> reply in sink):   {full_rate:8.1f} msg/s  ({full:.2f} s)")
    print(f"ratio intake / bare:                {full_rate / bare_rate:8.3f}")
    print(f"accept -> reply latency under this load: p50 {statistics.median(latencies) * 1000:.0f}"
          f" ms, p95 {quantiles[18] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms; "
          f"one message alone: {single * 1000:.0f} ms")
    print(f"peak RSS: {rss_bare:.0f} MiB after the bare run, {rss_full:.0f} MiB after the intake")


if __name__ == "__main__":
    asyncio.run(main())
