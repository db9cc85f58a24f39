"""Dataset card checks: read a card, parse its front matter, apply the OTDI rules, report."""

from core.cards.cli import run_check_card_cli
from core.cards.fetch import CardFetchError, FetchedCard, card_url_for_location, fetch_card
from core.cards.findings import Finding
from core.cards.report import DEFAULT_MAX_CARD_BYTES, CardReport, check_card, render_report

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
