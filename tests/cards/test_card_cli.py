"""``intake check-card PATH [--json]`` through run_check_card_cli."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from core.cards import run_check_card_cli
from tests.cards.card_texts import set_yaml


def run(path: Path | str, as_json: bool = False, max_bytes: int = 1_048_576) -> tuple[int, str]:
    out = io.StringIO()
    code = run_check_card_cli(str(path), as_json, max_bytes, out=out)
    return code, out.getvalue()


def test_passing_card(tmp_path: Path, card: str) -> None:
    path = tmp_path / "README.md"
    path.write_text(card, encoding="utf-8")
    code, output = run(path)
    assert code == 0
    assert "PASSES" in output


def test_card_with_problems_as_json(tmp_path: Path, card: str) -> None:
    path = tmp_path / "README.md"
    path.write_text(set_yaml(card, "license", "gpl-3.0"), encoding="utf-8")
    code, output = run(path, as_json=True)
    assert code == 1
    data = json.loads(output)
    assert data["verdict"] == "problems" and data["filename"] == "README.md"
    assert [f["code"] for f in data["findings"]] == ["license_not_permissive"]


def test_missing_file(tmp_path: Path) -> None:
    code, output = run(tmp_path / "nope.md")
    assert code == 2
    assert "no file at" in output and "nope.md" in output


def test_directory(tmp_path: Path) -> None:
    assert run(tmp_path)[0] == 2


def test_too_big_file_is_not_read(tmp_path: Path, card: str) -> None:
    path = tmp_path / "README.md"
    path.write_text(card, encoding="utf-8")
    code, output = run(path, as_json=True, max_bytes=100)
    assert code == 2
    assert json.loads(output)["findings"][0]["code"] == "too_big"


def test_pdf_renamed(tmp_path: Path) -> None:
    path = tmp_path / "README.md"
    path.write_bytes(b"%PDF-1.5\n...")
    code, output = run(path)
    assert code == 2 and "PDF" in output


@pytest.mark.parametrize("url", ["http://example.org/README.md"])
def test_plain_http_url_is_refused_without_fetching(url: str) -> None:
    code, output = run(url, as_json=True)
    assert code == 2
    finding = json.loads(output)["findings"][0]
    assert (finding["code"], finding["context"]["fetch_code"]) == ("fetch_failed", "not_https")


def test_default_output_is_stdout(tmp_path: Path, card: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "card.txt"
    path.write_text(card, encoding="utf-8")
    assert run_check_card_cli(str(path), False, 1_048_576) == 0
    assert "PASSES" in capsys.readouterr().out
