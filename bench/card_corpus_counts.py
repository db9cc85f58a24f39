"""How far a card checker is from the hand-reviewed corpus: figures for a closing note.

    .venv/bin/python bench/card_corpus_counts.py                 # this checkout's checker
    .venv/bin/python bench/card_corpus_counts.py /tmp/cards-before  # an older checkout's

The corpus and its reviewed expectations (tests/data/cards/real/manifest.json) always
come from this checkout; only the checker is taken from the checkout named, run in a
child process with that checkout first on PYTHONPATH so its own spec.yaml is used.
Counted: false errors (errors the review does not expect), false warnings likewise,
missed leftovers (template-leftover findings the review expects that the checker did
not give) and cards whose verdict is not the reviewed one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "cards" / "real"
LEFTOVER_CODES = frozenset({"markdown_field_placeholder", "markdown_field_partly_placeholder",
                            "template_leftovers", "yaml_field_placeholder",
                            "front_matter_placeholder"})
Pair = tuple[str, str]


def _worker() -> None:
    """In the child: check every corpus card with whatever ``core.cards`` is importable."""
    from core.cards import check_card

    cards = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["cards"]
    out: dict[str, dict[str, object]] = {}
    for card in cards:
        report = check_card((CORPUS / card["file"]).read_bytes(), "README.md")
        out[card["file"]] = {
            "verdict": report.verdict,
            "errors": [[f.field, f.code] for f in report.errors],
            "warnings": [[f.field, f.code] for f in report.warnings],
        }
    json.dump(out, sys.stdout)


def results(checkout: Path) -> dict[str, dict[str, object]]:
    """Each card's verdict and findings from the checker in ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    done = subprocess.run([sys.executable, __file__, "--worker"], env=env, cwd=checkout,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _pairs(items: object) -> list[Pair]:
    return [(str(a), str(b)) for a, b in items] if isinstance(items, list) else []


def _extra(got: list[Pair], expected: list[Pair]) -> int:
    """Findings in ``got`` beyond those expected (a finding may be expected twice)."""
    left = list(expected)
    count = 0
    for pair in got:
        if pair in left:
            left.remove(pair)
        else:
            count += 1
    return count


def counts(checkout: Path) -> dict[str, int]:
    """The figures for one checker against the whole reviewed corpus."""
    cards = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))["cards"]
    found = results(checkout)
    totals = {"cards": len(cards), "false_errors": 0, "false_warnings": 0,
              "missed_leftovers": 0, "wrong_verdicts": 0}
    for card in cards:
        got = found[card["file"]]
        errors, warnings = _pairs(got["errors"]), _pairs(got["warnings"])
        expected_errors = _pairs(card["expected_errors"])
        expected_warnings = _pairs(card["expected_warnings"])
        totals["false_errors"] += _extra(errors, expected_errors)
        totals["false_warnings"] += _extra(warnings, expected_warnings)
        expected_leftovers = [p for p in expected_errors + expected_warnings
                              if p[1] in LEFTOVER_CODES]
        totals["missed_leftovers"] += _extra(expected_leftovers, errors + warnings)
        totals["wrong_verdicts"] += got["verdict"] != card["expected_verdict"]
    return totals


def main(argv: list[str]) -> None:
    if argv[1:2] == ["--worker"]:
        _worker()
        return
    checkout = Path(argv[1]).resolve() if len(argv) > 1 else ROOT
    figures = counts(checkout)
    print(f"checker: {checkout}")
    for name, value in figures.items():
        print(f"  {name.replace('_', ' ')}: {value}")


if __name__ == "__main__":
    main(sys.argv)
