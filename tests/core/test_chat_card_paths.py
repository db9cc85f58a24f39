"""How ``intake chat`` reads a typed card path: a file to upload, a missing file named
back with where it was looked for, or plain words."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.chat import event_for

CARD = (Path(__file__).parent.parent / "data" / "ocean_card.md").read_bytes()


def test_an_existing_card_file_is_uploaded(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_bytes(CARD)
    event = event_for(str(card), asking_card=False, max_card_bytes=1_000_000)
    assert event.kind == "file" and event.file is not None and event.file.data == CARD


@pytest.mark.parametrize("typed", ["./missing.md", "docs/README", "card: nowhere.txt"])
def test_a_missing_card_file_is_named_with_where_it_was_looked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    monkeypatch.chdir(tmp_path)
    event = event_for(typed, asking_card=True, max_card_bytes=1_000_000)
    assert event.kind == "card_fetch_failed"
    assert str(tmp_path) in (event.text or "") and "No such file" in (event.text or "")


@pytest.mark.parametrize(("typed", "asking_card"), [
    ("I will send it later", True), ("./missing.md", False), ("Ocean Temperatures", False)])
def test_other_words_stay_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, typed: str,
                                asking_card: bool) -> None:
    monkeypatch.chdir(tmp_path)
    event = event_for(typed, asking_card=asking_card, max_card_bytes=1_000_000)
    assert (event.kind, event.text) == ("text", typed)
