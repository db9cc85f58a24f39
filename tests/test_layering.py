"""Adapters use the core's repository, never its tables (DESIGN.md, rules of the house)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = re.compile(r"core\.storage\.models|from\s+core\.storage\s+import\s+[^\n]*\bmodels\b")


def importing_core_tables(package: str) -> list[str]:
    """The modules of ``package`` that name ``core.storage.models``."""
    return sorted(str(path.relative_to(ROOT)) for path in (ROOT / package).rglob("*.py")
                  if TABLES.search(path.read_text(encoding="utf-8")))


def test_the_slack_adapter_never_imports_core_tables() -> None:
    assert (ROOT / "bot").is_dir()
    assert importing_core_tables("bot") == []


def test_the_mail_adapter_never_imports_core_tables() -> None:
    assert (ROOT / "mail").is_dir()
    assert importing_core_tables("mail") == []


def test_the_review_desk_never_imports_core_tables() -> None:
    assert (ROOT / "desk").is_dir()
    assert importing_core_tables("desk") == []
