"""``intake check-card PATH [--json]``: check a card file (or https URL) from a shell.

``core.cli`` hands ``check-card`` here before importing anything else, and this module
imports only what checking needs (the fetcher and aiohttp only for a URL, the
settings only when a ``.env`` file may set the card size limit), so the command
answers in a fraction of a second. It runs its own event loop for a URL: it is never
called from inside one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TextIO, TypeVar

from core.cards.findings import error
from core.cards.report import (
    DEFAULT_MAX_CARD_BYTES,
    CardReport,
    check_card,
    render_report,
    unreadable_report,
)

MAX_CARD_BYTES_ENV = "INTAKE_MAX_CARD_BYTES"
T = TypeVar("T")


def _read_path(path: str, max_bytes: int) -> CardReport:
    file = Path(path)
    name = file.name
    try:
        if not file.exists():
            return unreadable_report(error("card", "not_found", path=path), name)
        if not file.is_file():
            return unreadable_report(error("card", "not_a_file", path=path), name)
        size = file.stat().st_size
        if size > max_bytes:
            return unreadable_report(
                error("card", "too_big", size=size, max_bytes=max_bytes), name, size)
        data = file.read_bytes()
    except OSError as exc:
        return unreadable_report(
            error("card", "cannot_open", path=path, detail=exc.strerror or str(exc)), name)
    return check_card(data, name, max_bytes=max_bytes)


def _read_url(url: str, max_bytes: int, allow_private: bool = False) -> CardReport:
    from core.cards.fetch import CardFetchError, fetch_card

    try:
        fetched = _run(fetch_card(url, max_bytes=max_bytes, allow_private=allow_private))
    except CardFetchError as exc:
        return unreadable_report(
            error("card", "fetch_failed", url=url, fetch_code=exc.code,
                  fetch_message=exc.message), None)
    return check_card(fetched.data, fetched.filename, max_bytes=max_bytes)


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also when a caller already has a loop running."""
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_check_card_cli(path: str, as_json: bool, max_bytes: int,
                       out: TextIO | None = None, allow_private: bool = False) -> int:
    """Check the card at ``path`` (a file, or an https:// URL), print the report, return 0/1/2."""
    stream = out if out is not None else sys.stdout
    is_url = path.lower().startswith(("https://", "http://"))
    report = (_read_url(path, max_bytes, allow_private) if is_url
              else _read_path(path, max_bytes))
    if as_json:
        stream.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        stream.write(render_report(report, None, "text") + "\n")
    return report.exit_code


def max_card_bytes() -> int:
    """``INTAKE_MAX_CARD_BYTES`` from the environment, or from ``.env`` through the settings.

    The settings (pydantic-settings) are only loaded when a ``.env`` file exists, since
    importing them costs more than checking a card.
    """
    value = os.environ.get(MAX_CARD_BYTES_ENV)
    if value is not None:
        try:
            return int(value)
        except ValueError:
            pass
    if Path(".env").is_file():
        from core.settings import Settings

        return Settings().max_card_bytes
    return DEFAULT_MAX_CARD_BYTES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check-card`` arguments (shared with the ``intake --help`` listing)."""
    parser.add_argument("path", help="a card file, or an https:// URL of one")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--allow-private-hosts", action="store_true",
                        help="let a URL reach private and loopback addresses (local testing)")


def main(argv: Sequence[str]) -> int:
    """``intake check-card ...`` (``argv`` without the ``check-card`` word)."""
    parser = argparse.ArgumentParser(
        prog="intake check-card", description="Check a dataset card against the OTDI rules.",
        epilog="Exit status: 0 the card passes (warnings allowed), 1 it has problems to fix, "
               "2 it could not be read (missing, too big, not text, not fetched). "
               "Reads INTAKE_MAX_CARD_BYTES (default 1048576), from the environment or .env.")
    add_arguments(parser)
    args = parser.parse_args(list(argv))
    return run_check_card_cli(args.path, args.json, max_card_bytes(),
                              allow_private=args.allow_private_hosts)
