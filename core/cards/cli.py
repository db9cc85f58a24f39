"""``intake check-card PATH [--json]``: check a card file (or https URL) from a shell."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TextIO

from core.cards.fetch import CardFetchError, fetch_card
from core.cards.findings import error
from core.cards.report import CardReport, check_card, render_report, unreadable_report


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


def _read_url(url: str, max_bytes: int) -> CardReport:
    try:
        fetched = asyncio.run(fetch_card(url, max_bytes=max_bytes))
    except CardFetchError as exc:
        return unreadable_report(
            error("card", "fetch_failed", url=url, fetch_code=exc.code,
                  fetch_message=exc.message), None)
    return check_card(fetched.data, fetched.filename, max_bytes=max_bytes)


def run_check_card_cli(path: str, as_json: bool, max_bytes: int,
                       out: TextIO | None = None) -> int:
    """Check the card at ``path`` (a file, or an https:// URL), print the report, return 0/1/2."""
    stream = out if out is not None else sys.stdout
    is_url = path.lower().startswith(("https://", "http://"))
    report = _read_url(path, max_bytes) if is_url else _read_path(path, max_bytes)
    if as_json:
        stream.write(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n")
    else:
        stream.write(render_report(report, None, "text") + "\n")
    return report.exit_code
