"""Dataset card checks: read a card, parse its front matter, apply the OTDI rules, report.

The fetcher (and with it aiohttp) is imported on first use, so checking a card from
the command line does not pay for the network stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from core.cards.cli import run_check_card_cli
from core.cards.findings import Finding
from core.cards.report import DEFAULT_MAX_CARD_BYTES, CardReport, check_card, render_report

if TYPE_CHECKING:
    from core.cards.fetch import CardFetchError, FetchedCard, card_url_for_location, fetch_card

_FETCH_NAMES = frozenset({"CardFetchError", "FetchedCard", "card_url_for_location", "fetch_card"})

__all__ = [
    "DEFAULT_MAX_CARD_BYTES",
    "CardFetchError",
    "CardReport",
    "FetchedCard",
    "Finding",
    "card_url_for_location",
    "check_card",
    "fetch_card",
    "render_report",
    "run_check_card_cli",
]


def __getattr__(name: str) -> Any:
    """The fetcher's names, imported when first asked for."""
    if name in _FETCH_NAMES:
        from core.cards import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module 'core.cards' has no attribute {name!r}")
