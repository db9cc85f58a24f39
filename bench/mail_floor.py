"""The floor under the e-mail figure: what the library calls every answered e-mail needs
cost alone, beside the bare aiosmtpd's per-message cost, in one run.

``bench/mail.py`` compares the intake (accept -> reply in the sink) with a bare aiosmtpd
that accepts and discards. Whatever the intake's own code does, an answered submission
at least parses the message (``email``), checks its card, builds a reply (``email``)
and sends it over SMTP (aiosmtplib to an aiosmtpd sink). This prints each of those per
message, their sum, and the rate that sum allows on one core against the bare rate:
the ceiling of the ratio before any database work or conversation logic.

    .venv/bin/python bench/mail_floor.py [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import email
import importlib.util
import sys
import time
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the project's ``mail`` package, not bench/mail.py

from core.cards import check_card  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_mail", ROOT / "bench" / "mail.py")
assert _spec is not None and _spec.loader is not None
bench_mail = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_mail)


def per_message(run: Callable[[int], object], count: int) -> float:
    """Seconds per call, after one warm-up call."""
    run(0)
    start = time.perf_counter()
    for index in range(count):
        run(index)
    return (time.perf_counter() - start) / count


def reply(index: int) -> bytes:
    message = EmailMessage()
    message["From"] = bench_mail.SUBMIT
    message["To"] = f"sender{index}@example.org"
    message["Subject"] = "Re: I want to contribute an OTDI dataset"
    message["Message-ID"] = make_msgid(domain="bench.test")
    message["In-Reply-To"] = message["References"] = make_msgid(domain="example.org")
    message.set_content("Thank you, your dataset is submitted.\n" * 40)
    return message.as_bytes()


async def smtp_send_seconds(count: int) -> float:
    """One reply over an open aiosmtplib connection to a bare aiosmtpd, per message."""
    sink = bench_mail.Counter(count + 1)
    server = await bench_mail.serve(sink)
    port = server.sockets[0].getsockname()[1]
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    data = reply(0)
    await client.sendmail(bench_mail.SUBMIT, ["a@example.org"], data)
    start = time.perf_counter()
    for _ in range(count):
        await client.sendmail(bench_mail.SUBMIT, ["a@example.org"], data)
    seconds = (time.perf_counter() - start) / count
    await client.quit()
    server.close()
    return seconds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    batch = bench_mail.messages(args.messages)
    bare = await bench_mail.baseline(batch, 50)
    bare_each = bare / len(batch)
    steps = {
        "parse the e-mail (email, policy.default)": per_message(
            lambda i: [part.get_content() for part in email.message_from_bytes(
                batch[i][2], policy=policy.default).walk() if not part.is_multipart()],
            len(batch)),
        "check its card (core.cards.check_card)": per_message(
            lambda _i: check_card(bench_mail.CARD, "README.md"), len(batch)),
        "build the reply (email.message.EmailMessage)": per_message(reply, len(batch)),
        "send the reply (aiosmtplib -> aiosmtpd)": await smtp_send_seconds(len(batch)),
    }
    print(f"bare aiosmtpd, accept and discard: {bare_each * 1000:6.2f} ms a message "
          f"({1 / bare_each:,.0f} msg/s)")
    for name, seconds in steps.items():
        print(f"{name:46s} {seconds * 1000:6.2f} ms")
    floor = sum(steps.values()) + bare_each  # the intake accepts over SMTP as well
    print(f"floor for one answered e-mail (the above + the accept): {floor * 1000:.2f} ms; "
          f"at most {1 / floor:,.0f} msg/s on one core = x{bare_each / floor:.3f} the bare "
          f"rate (target x0.25 needs {bare_each / 0.25 * 1000:.2f} ms a message)")


if __name__ == "__main__":
    asyncio.run(main())
