"""How fast the dataset card check is, against a bare parse of the same card.

Builds two cards from the OTDI template with every field filled in: a typical
~8 KB card and a ~1 MB one (big ``dataset_info`` front matter and long Markdown
tables), then prints cards checked per second by ``check_card`` and by a bare
``yaml.safe_load`` + markdown-it parse, and the ratio between the two. Then the
wall time of the installed ``intake check-card`` on the 8 KB card against
``python -c "import yaml"`` in the same run (process start included), and the time
``check_card`` takes on a ~1 MB card with 30,000 headings (linear in the card's size).

Run: ``.venv/bin/python bench/cards.py [--seconds 2]``
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import jinja2
import yaml
from huggingface_hub.repocard import REGEX_YAML_BLOCK
from jinja2 import meta
from markdown_it import MarkdownIt

from core.cards import DEFAULT_MAX_CARD_BYTES, check_card
from core.spec import CARD_TEMPLATE_PATH

FRONT_MATTER = """\
license: cdla-permissive-2.0
license_name: Community Data License Agreement Permissive 2.0
pretty_name: Bench Dataset
source_datasets: []
unique_metadata_identifier: urn:otdi:bench:v1
language: [en]
task_categories: [text-classification]
"""
SPECIAL = {"dataset_issue_date": "2024-05-31", "personal_and_sensitive_information": "None",
           "proprietary_data_presence": "No", "use_of_privacy_enhancing_technologies_pets": "No",
           "license": "cdla-permissive-2.0"}
FILLER = "Prose about the dataset and where it comes from. "


def build_card(target_bytes: int, config_count: int = 0, table_rows: int = 0) -> bytes:
    """A complete OTDI card of about ``target_bytes`` (padded with prose, never cut)."""
    source = CARD_TEMPLATE_PATH.read_text(encoding="utf-8").split("-->", 1)[1].lstrip()
    env = jinja2.Environment()
    template = env.from_string(source)
    values = {name: SPECIAL.get(name, FILLER)
              for name in meta.find_undeclared_variables(env.parse(source))}
    values["card_data"] = (FRONT_MATTER + _dataset_info(config_count)).rstrip("\n")
    structure = FILLER + "\n\n" + _table(table_rows)
    values["dataset_structure"] = structure
    missing = target_bytes - len(template.render(**values).encode())
    if missing > 0:
        paragraph = (FILLER * 6).strip() + "\n\n"
        padding = (paragraph * (missing // len(paragraph) + 1))[:missing]
        values["dataset_structure"] = structure + "\n\n" + padding
    return template.render(**values).encode()


def _dataset_info(configs: int) -> str:
    if not configs:
        return ""
    lines = ["dataset_info:"]
    for index in range(configs):
        lines += [f"- config_name: part_{index}", "  features:",
                  *[f"  - name: column_{c}\n    dtype: string" for c in range(8)],
                  "  splits:", "  - name: train", f"    num_bytes: {1000 + index}",
                  f"    num_examples: {100 + index}"]
    return "\n".join(lines) + "\n"


def _table(rows: int) -> str:
    lines = ["| column | type | description |", "| --- | --- | --- |"]
    lines += [f"| column_{i} | string | Value number {i} of the long structure table. |"
              for i in range(rows)]
    return "\n".join(lines)


MARKDOWN = MarkdownIt("commonmark")


def bare_parse(data: bytes) -> None:
    """The baseline: what any card reader must at least do (parser built once)."""
    text = data.decode("utf-8")
    match = REGEX_YAML_BLOCK.search(text)
    if match:
        yaml.safe_load(match.group(2))
        text = text[match.end():]
    MARKDOWN.parse(text)


def rate(function: Callable[[bytes], object], data: bytes, seconds: float) -> float:
    """Calls per second, measured over at least ``seconds``."""
    function(data)
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds or count < 3:
        function(data)
        count += 1
    return count / elapsed


def heading_card(headings: int = 30_000, target_bytes: int = 1_040_000) -> bytes:
    """A complete card whose Dataset Structure section has ``headings`` headings, about
    ``target_bytes`` long: each heading's text is padded so the whole card (not a cut
    one) is the 1 MB card with 30,000 headings the issue asks for."""
    data = build_card(8 * 1024)
    marker = b"\n## Dataset Creation\n"  # the parts go into the Dataset Structure section
    plain = sum(len(f"### Part {i}\n\nRows {i}.\n\n") for i in range(headings))
    pad = " more" * max(0, (target_bytes - len(data) - plain) // (5 * headings))
    body = "".join(f"### Part {i}\n\nRows {i}{pad}.\n\n" for i in range(headings))
    card = data.replace(marker, b"\n" + body.encode() + marker, 1)
    assert card.count(b"\n### Part ") == headings
    return card


def wall(command: list[str], runs: int) -> float:
    """Median wall time of a command, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command_times(card: bytes, runs: int) -> None:
    """``intake check-card`` on a card against starting Python to import yaml."""
    intake = Path(sys.executable).with_name("intake")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "README.md"
        path.write_bytes(card)
        checked = wall([str(intake), "check-card", str(path)], runs)
        baseline = wall([sys.executable, "-c", "import yaml"], runs)
    print(f"intake check-card on the {len(card):,}-byte card: {checked * 1000:.0f} ms; "
          f'python -c "import yaml": {baseline * 1000:.0f} ms; '
          f"ratio {checked / baseline:.1f}x (median of {runs} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--runs", type=int, default=7, help="runs of each command")
    args = parser.parse_args()
    cards = {
        "typical 8 KB card": build_card(8 * 1024),
        "1 MB card": build_card(DEFAULT_MAX_CARD_BYTES - 1024, config_count=150,
                                table_rows=6000),
    }
    for label, data in cards.items():
        report = check_card(data, "README.md")
        assert report.verdict == "passes", [f.code for f in report.findings]
        checked = rate(lambda d: check_card(d, "README.md"), data, args.seconds)
        bare = rate(bare_parse, data, args.seconds)
        print(f"{label} ({len(data):,} bytes): check_card {checked:,.1f} cards/s, "
              f"bare yaml.safe_load + markdown-it {bare:,.1f} cards/s, "
              f"ratio {bare / checked:.2f}x the bare parse time")
    command_times(cards["typical 8 KB card"], args.runs)
    many = heading_card()
    assert 1_000_000 <= len(many) <= 1_100_000, len(many)
    start = time.perf_counter()
    report = check_card(many, "README.md", max_bytes=len(many) + 1)
    elapsed = time.perf_counter() - start
    print(f"card with 30,000 headings ({len(many):,} bytes): check_card {elapsed * 1000:.0f} ms, "
          f"verdict {report.verdict}")


if __name__ == "__main__":
    main()
