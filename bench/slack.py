"""The Slack endpoint against a bare Bolt app, in one run: acknowledgements and answers.

Slack wants every request acknowledged within 3 seconds. This sends 1,000 signed
``message.im`` events, 50 at a time, to (a) the intake's web adapter, which stores
each one in the inbound log before its 200 and then processes it (the event worker: a
conversation turn in the database; the outbox: a reply posted to a fake Slack), and
(b) a bare Bolt app whose listener does nothing. It prints ack p50/p99 for both, the
bare app's ack rate, and the intake's end-to-end rate (event sent -> reply posted to
the fake) beside it. Each server runs in its own process, so the load generator does
not share their event loop.

    .venv/bin/python bench/slack.py [--events 1000] [--concurrency 50] [--repeat 3]
                                    [--database-url postgresql+psycopg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import statistics
import sys
import tempfile
import time
import uuid
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import aiohttp

SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
USERS = 100
WARMUP = 20
TEXTS = ("hello", "Ocean Temperatures {n}", "https://example.org/ocean/{n}", "yes", "status",
         "help", "text and images", "marine", "ada{n}@example.org", "summary")


async def _serve_fake(conn: Connection) -> None:
    from tests.fake_slack import FakeSlack

    fake = FakeSlack(bot_token=TOKEN)
    await fake.start()
    conn.send(fake.api_url)
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    conn.send({"posted": len(fake.calls_to("chat.postMessage"))})
    await fake.stop()


async def _serve_intake(conn: Connection, api_url: str, database_url: str | None,
                        gc_freeze: bool) -> None:
    from bot.adapter import WebAdapter
    from core.runtime import build_runtime, settle_startup_objects
    from core.settings import Settings
    from core.storage.database import Database

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        db = Database(url)
        await db.upgrade()
        settings = Settings(_env_file=None, INTAKE_DATABASE_URL=url, SLACK_BOT_TOKEN=TOKEN,
                            SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=api_url,
                            INTAKE_HTTP_HOST="127.0.0.1", INTAKE_HTTP_PORT=0)
        runtime = build_runtime(settings, db)
        adapter = WebAdapter()
        await adapter.start(runtime)
        worker = runtime.worker()
        runtime.service.on_enqueued = worker.wakeup.set
        task = asyncio.create_task(worker.run_forever(poll_seconds=0.2))
        events = asyncio.create_task(runtime.events.run_forever())  # as `intake serve`
        if gc_freeze:  # as `intake serve` does once it listens (--no-gc-freeze: without)
            settle_startup_objects()
        conn.send(adapter.port)
        expected = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        acknowledged = time.perf_counter()

        def count(name: str, label: str, value: str) -> int:
            return adapter.metrics.get(name, label, value)

        at_ack = count("intake_slack_events_total", "kind", "message")
        deadline = acknowledged + 300
        while time.perf_counter() < deadline and count(
                "intake_slack_deliveries_total", "result", "ok") < expected:
            await asyncio.sleep(0.05)  # a benchmark polling its own progress, not a test
        drained = time.perf_counter() - acknowledged
        await adapter.stop()
        for running in (events, task):
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await runtime.events.stop()
        await db.dispose()
        conn.send({"at_ack": at_ack,
                   "processed": count("intake_slack_events_total", "kind", "message"),
                   "delivered": count("intake_slack_deliveries_total", "result", "ok"),
                   "drain_seconds": drained})


async def _serve_bare(conn: Connection, api_url: str) -> None:
    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    app = AsyncApp(client=AsyncWebClient(token=TOKEN, base_url=api_url),
                   signing_secret=SECRET)

    @app.event("message")
    async def nothing() -> None:
        return None

    async def endpoint(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    conn.send(runner.addresses[0][1])
    await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    await runner.cleanup()
    conn.send({})


def _child(kind: str, conn: Connection, api_url: str, database_url: str | None,
           gc_freeze: bool) -> None:
    import logging

    logging.disable(logging.WARNING)
    if kind == "fake":
        asyncio.run(_serve_fake(conn))
    elif kind == "intake":
        asyncio.run(_serve_intake(conn, api_url, database_url, gc_freeze))
    else:
        asyncio.run(_serve_bare(conn, api_url))


def _event(index: int, run: str) -> dict[str, Any]:
    """Events of USERS contributors, each going through the first questions."""
    user = f"U{run.upper()}{index % USERS:03d}"  # new contributors in every run
    text = TEXTS[(index // USERS) % len(TEXTS)].format(n=index % USERS)
    ts = f"{1_700_000_000 + index}.000100"
    return {"type": "message", "channel": f"D{user}", "user": user, "text": text, "ts": ts,
            "event_ts": ts, "channel_type": "im"}


async def _send_all(port: int, events: int, concurrency: int, run: str,
                    warmup: int = WARMUP) -> tuple[list[float], int]:
    from tests.fake_slack import SlackSender

    url = f"http://127.0.0.1:{port}/slack/events"
    prefix = f"Ev{run}"  # event ids unique across runs on one database
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        sender = SlackSender(url, SECRET, session)
        for index in range(warmup):  # auth.test, connections, first queries
            await sender.event(_event(10_000 + index, run), event_id=f"{prefix}warm{index}")
        latencies: list[float] = []
        failures = 0
        for start in range(0, events, concurrency):
            wave = [sender.event(_event(i, run), event_id=f"{prefix}{i}")
                    for i in range(start, min(start + concurrency, events))]
            for answer in await asyncio.gather(*wave):
                latencies.append(answer.elapsed * 1000)
                failures += answer.status != 200
    return latencies, failures


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _start(kind: str, api_url: str = "", database_url: str | None = None,
           gc_freeze: bool = False) -> tuple[Any, Connection, Any]:
    """A server in its own process; returns it, its pipe and what it sent first."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_child,
                              args=(kind, child, api_url, database_url, gc_freeze), daemon=True)
    process.start()
    return process, parent, parent.recv()


def _stop(process: Any, pipe: Connection, message: Any) -> dict[str, Any]:
    pipe.send(message)
    stats = pipe.recv()
    process.join(30)
    return stats


def _run(kind: str, api_url: str, events: int, concurrency: int, database_url: str | None,
         gc_freeze: bool = False) -> tuple[list[float], int, dict[str, Any], float]:
    process, pipe, port = _start(kind, api_url, database_url, gc_freeze)
    started = time.perf_counter()
    run = uuid.uuid4().hex[:6]
    latencies, failures = asyncio.run(_send_all(port, events, concurrency, run))
    elapsed = time.perf_counter() - started
    stats = _stop(process, pipe, events + WARMUP)
    return latencies, failures, stats, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each app, alternating; the median run is compared")
    parser.add_argument("--database-url", default=None,
                        help="the intake's database (default: a temporary SQLite file)")
    parser.add_argument("--no-gc-freeze", dest="gc_freeze", action="store_false",
                        help="leave out the gc.freeze() that `intake serve` does after "
                             "start-up: the p99 then shows one full garbage collection")
    args = parser.parse_args()
    fake, fake_pipe, api_url = _start("fake")
    runs: dict[str, list[tuple[list[float], int, dict[str, Any], float]]] = {
        "bare": [], "intake": []}
    for _ in range(args.repeat):
        for kind in runs:
            runs[kind].append(_run(kind, api_url, args.events, args.concurrency,
                                   args.database_url, args.gc_freeze))
    _stop(fake, fake_pipe, "stop")
    print(f"{args.events} signed message.im events, {args.concurrency} at a time, "
          f"{args.repeat} runs each (Slack's limit: 3000 ms)")
    print(f"{'app':<8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'mean ms':>9}{'req/s':>8}"
          f"{'non-200':>9}")
    medians: dict[str, tuple[float, float]] = {}
    for kind, results in runs.items():
        for latencies, failures, _stats, elapsed in results:
            print(f"{kind:<8}{_percentile(latencies, .5):>9.1f}"
                  f"{_percentile(latencies, .99):>9.1f}{max(latencies):>9.1f}"
                  f"{statistics.fmean(latencies):>9.1f}{len(latencies) / elapsed:>8.0f}"
                  f"{failures:>9}")
        medians[kind] = (statistics.median(_percentile(r[0], .5) for r in results),
                         statistics.median(_percentile(r[0], .99) for r in results))
    (bare50, bare99), (ours50, ours99) = medians["bare"], medians["intake"]
    print(f"median of runs: bare p50 {bare50:.1f} / p99 {bare99:.1f} ms, intake p50 "
          f"{ours50:.1f} / p99 {ours99:.1f} ms; ratio intake/bare p50 x{ours50 / bare50:.2f},"
          f" p99 x{ours99 / bare99:.2f}")
    ratios: list[float] = []
    for (bare, ours) in zip(runs["bare"], runs["intake"], strict=True):
        latencies, _failures, stats, elapsed = ours
        bare_rate = len(bare[0]) / bare[3]
        end_to_end = stats["delivered"] / (elapsed + stats["drain_seconds"])
        ratios.append(end_to_end / bare_rate)
        print(f"intake: {stats['at_ack']} turns done when the last acknowledgement left; "
              f"{stats['processed']} turns taken and {stats['delivered']} replies delivered "
              f"{stats['drain_seconds']:.1f} s later; end to end {end_to_end:.0f} answered/s "
              f"(event -> reply posted) against the bare ack rate {bare_rate:.0f} req/s: "
              f"x{end_to_end / bare_rate:.2f}")
    print(f"median of runs: answered end to end x{statistics.median(ratios):.2f} the bare "
          f"Bolt ack rate; ack p99 x{ours99 / bare99:.2f} bare")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.fake_slack
    main()
