"""``intake check-card PATH [--json]`` through run_check_card_cli."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
from pathlib import Path

import pytest
import trustme

from core.cards import run_check_card_cli
from tests.cards.card_server import CardServer
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


# --- the installed command, in a real process ------------------------------------------

INTAKE = Path(sys.executable).with_name("intake")


async def installed(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the installed ``intake`` script without blocking this test's event loop."""
    process = await asyncio.create_subprocess_exec(
        str(INTAKE), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})})
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA as a PEM file: the command trusts it through SSL_CERT_FILE."""
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


async def test_installed_command_checks_a_card_by_https_url(card_server: CardServer,
                                                            ca_file: Path) -> None:
    """It used to crash: asyncio.run() inside the CLI's own running loop."""
    code, out, err = await installed("check-card", card_server.url("/card.md"), "--json",
                                     "--allow-private-hosts",
                                     env={"SSL_CERT_FILE": str(ca_file)})
    assert "RuntimeError" not in err and "Traceback" not in err, err
    assert code == 0, out + err
    report = json.loads(out)
    assert (report["verdict"], report["filename"]) == ("passes", "card.md")
    assert card_server.requests == ["127.0.0.1/card.md"]


async def test_installed_command_refuses_a_private_address_by_default(
        card_server: CardServer, ca_file: Path) -> None:
    code, out, err = await installed("check-card", card_server.url("/card.md"), "--json",
                                     env={"SSL_CERT_FILE": str(ca_file)})
    assert code == 2 and "Traceback" not in err, err
    assert json.loads(out)["findings"][0]["context"]["fetch_code"] == "private_address"
    assert card_server.requests == []


async def test_installed_command_checks_a_file(tmp_path: Path, card: str) -> None:
    path = tmp_path / "README.md"
    path.write_text(set_yaml(card, "license", "gpl-3.0"), encoding="utf-8")
    code, out, err = await installed("check-card", str(path))
    assert code == 1 and "PROBLEMS TO FIX" in out, err
    assert "GNU General Public License v3.0" in out


def test_help_gives_the_exit_status_and_the_setting(capsys: pytest.CaptureFixture[str]) -> None:
    from core.cards.cli import main

    with pytest.raises(SystemExit) as ended:
        main(["--help"])
    assert ended.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "0 the card passes" in shown and "1 it has problems" in shown
    assert "2 it could not be read" in shown and "INTAKE_MAX_CARD_BYTES" in shown
