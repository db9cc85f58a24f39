"""Fuzzing: whatever bytes or text arrive, the check answers and never raises."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.cards import check_card, render_report
from core.cards.report import CardReport
from core.render import Renderer
from tests.cards.card_texts import valid_card

RENDERER = Renderer()
FUZZ = settings(max_examples=int(os.environ.get("CARD_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])
CARD_LINES = valid_card().split("\n")
PIECES = st.sampled_from(
    [*CARD_LINES, "---", "<!--", "-->", "\t", "&a", "*a", "[", "{", ":", "- ", "# ", "\r\n",
     "**Curated by:**", "[More Information Needed]", "\ufeff", "license: other", "\x00"])


def assert_sane(report: CardReport) -> None:
    assert report.verdict in ("passes", "problems", "unreadable")
    assert report.exit_code in (0, 1, 2)
    json.dumps(report.to_dict())
    assert CardReport.from_dict(report.to_dict()) == report
    for finding in report.findings:
        assert finding.message and finding.hint
        assert finding.code != "check_failed", "the checker crashed (see the log)"
    render_report(report, RENDERER, "text")
    assert len(render_report(report, RENDERER, "slack")) < 3000


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(["README.md", "card.txt", "x.pdf", None]))
def test_any_bytes(data: bytes, filename: str | None) -> None:
    assert_sane(check_card(data, filename))


@FUZZ
@given(st.text(max_size=4096))
def test_any_text(text: str) -> None:
    assert_sane(check_card(text.encode("utf-8", "surrogatepass"), "README.md"))


@FUZZ
@given(st.lists(PIECES, max_size=80), st.sampled_from(["utf-8", "utf-16", "utf-8-sig"]))
def test_card_like_text(pieces: list[str], encoding: str) -> None:
    text = "\n".join(pieces)
    assert_sane(check_card(text.encode(encoding, "surrogatepass"), "README.md"))


@FUZZ
@given(st.lists(st.integers(0, len(CARD_LINES) - 1), max_size=20))
def test_valid_card_with_lines_dropped(dropped: list[int]) -> None:
    lines = [line for index, line in enumerate(CARD_LINES) if index not in set(dropped)]
    assert_sane(check_card("\n".join(lines).encode(), "README.md"))
