"""What an operator's first trial of ``intake`` found, kept fixed.

Every setting of the contract set wrong is one clear line (never a traceback, never
accepted to fail later at a bind or a log call); ``intake settings`` and each
``--help`` say what every setting means; an empty value is unset. SIGTERM stops
``intake serve`` cleanly, and Ctrl+C ends ``intake chat`` at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from core import settings_view
from core.settings import Settings
from core.startup import StartupError, load_settings
from core.storage.database import Database
from tests.core.transcript import Transcript, make_service


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No INTAKE_/SLACK_ variables, and a working directory of the test's own (its .env)."""
    for key in list(os.environ):
        if key.startswith(("INTAKE_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize(("name", "value", "said"), [
    ("INTAKE_SMTP_PORT", "99999", "65535"),
    ("INTAKE_HTTP_PORT", "-1", "greater than or equal to 0"),
    ("INTAKE_RELAY_PORT", "0", "greater than or equal to 1"),
    ("INTAKE_METRICS_PORT", "70000", "65535"),
    ("INTAKE_MAX_CARD_BYTES", "-5", "greater than 0"),
    ("INTAKE_MAX_MESSAGE_BYTES", "0", "greater than 0"),
    ("INTAKE_LOG_LEVEL", "LOUD", "DEBUG, INFO, WARNING or ERROR"),
    ("INTAKE_OUTBOX_GIVE_UP_AFTER", "forever", "5d, 12h, 30m"),
    ("INTAKE_OUTBOX_GIVE_UP_AFTER", "0", "longer than 0"),
    ("INTAKE_CONFIRM_WITHIN", "2w", "5d, 12h, 30m"),
    ("INTAKE_SUBMIT_ADDRESS", "nope", "data@example.org"),
    ("INTAKE_SUBMIT_ADDRESS", "data+x@example.org", "no +tag"),
    ("INTAKE_REVIEW_EMAILS", "rita@example.org, otto.example.org", "'otto.example.org'"),
])
def test_a_bad_value_is_one_line_naming_the_setting(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str,
        said: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError) as raised:
        load_settings()
    line = str(raised.value)
    assert line.startswith(f"setting {name} is not valid: ")
    assert said in line and "\n" not in line and "Value error" not in line


def test_the_same_bad_value_in_dot_env_is_the_same_line(clean_env: Path) -> None:
    (clean_env / ".env").write_text("INTAKE_LOG_LEVEL=chatty\n")
    with pytest.raises(StartupError, match="INTAKE_LOG_LEVEL is not valid"):
        load_settings()


def test_good_values_from_dot_env_and_the_environment(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_env / ".env").write_text(
        "INTAKE_LOG_LEVEL=debug\nINTAKE_METRICS_PORT=\nINTAKE_SMTP_PORT=2525\n"
        "INTAKE_CONFIRM_WITHIN=1d12h\nINTAKE_OUTBOX_GIVE_UP_AFTER=12:00:00\n")
    monkeypatch.setenv("INTAKE_SMTP_PORT", "2526")  # the environment wins over .env
    monkeypatch.setenv("INTAKE_HTTP_PORT", "")  # empty: unset, the default
    settings = load_settings()
    assert settings.log_level == "DEBUG" and settings.metrics_port is None
    assert settings.smtp_port == 2526 and settings.http_port == 3000
    shown = {line.name: line.value for line in settings_view.lines(settings)}
    assert shown["INTAKE_CONFIRM_WITHIN"] == "1d12h"
    assert shown["INTAKE_OUTBOX_GIVE_UP_AFTER"] == "12h"
    assert shown["INTAKE_VERIFY_DKIM"] == "false"


def test_settings_shows_an_unparsable_database_url_without_a_traceback(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_DATABASE_URL", "nonsense")
    shown = {line.name: line.value for line in settings_view.lines(load_settings())}
    assert shown["INTAKE_DATABASE_URL"] == "(unparsable URL)"


def test_every_setting_says_what_it_means(clean_env: Path) -> None:
    from core.cli import _settings_help

    listed = _settings_help(None).splitlines()[1:]
    assert len(listed) == len(Settings.model_fields)
    for line in listed:
        name, _, meaning = line.strip().partition(" ")
        assert meaning.strip(), f"{name} has no meaning in templates/cli/settings.j2"


async def _banner(process: asyncio.subprocess.Process) -> list[str]:
    """``intake serve``'s banner, up to its Database line (every listener bound)."""
    lines: list[str] = []
    async with asyncio.timeout(60):
        while not lines or not lines[-1].lstrip().startswith("Database:"):
            line = await process.stdout.readline()  # type: ignore[union-attr]
            assert line, "intake serve ended before its banner"
            lines.append(line.decode().rstrip())
    return lines


async def test_sigterm_stops_serve_cleanly_with_exit_0(tmp_path: Path) -> None:
    """``docker stop``, systemd and Procfile platforms send SIGTERM: the listeners close
    and the process exits 0, as after Ctrl+C, instead of dying of the signal (143)."""
    from tests.test_startup import command, environment

    process = await asyncio.create_subprocess_exec(
        *command(), "serve", cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=environment(tmp_path))
    try:
        banner = await _banner(process)
        smtp = int(next(line for line in banner if "SMTP inbox:" in line)
                   .split()[2].rsplit(":", 1)[1])
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            _, stderr = await process.communicate()
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert "stopping signal=SIGTERM" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    with socket.socket() as probe:  # the inbox let go of its port
        probe.bind(("127.0.0.1", smtp))


def test_ctrl_c_at_the_chat_prompt_ends_chat_at_once(tmp_path: Path) -> None:
    """The prompt's input() blocks a thread; Ctrl+C used to leave ``intake chat`` hanging
    until Enter was pressed. Now it says goodbye (the answers are saved) and exits 130."""
    from tests.test_startup import command, environment

    with subprocess.Popen([*command(), "chat", "--as", "ada"], cwd=tmp_path,
                          env=environment(tmp_path), stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as chat:
        assert chat.stdout is not None
        seen = b""
        deadline = time.monotonic() + 60
        while not seen.endswith(b"you> "):  # the first question, then the prompt
            assert time.monotonic() < deadline, seen
            ready, _, _ = select.select([chat.stdout], [], [], 1)
            if ready:
                chunk = os.read(chat.stdout.fileno(), 4096)
                assert chunk, seen
                seen += chunk
        chat.send_signal(signal.SIGINT)  # stdin stays open: input() is still waiting
        try:
            chat.wait(timeout=15)  # not communicate(): closing stdin would end input()
        except subprocess.TimeoutExpired:
            chat.kill()
            raise AssertionError("intake chat hung after Ctrl+C") from None
        out, err = chat.stdout.read(), chat.stderr.read()  # type: ignore[union-attr]
    assert chat.returncode == 130, err.decode()
    assert b"answers are saved" in out and b"Traceback" not in err


def test_the_chat_prompt_reads_lines_as_input_did(capsys: pytest.CaptureFixture[str]) -> None:
    """Several lines in one read, a Windows line end, a last line without its newline,
    then end of input (Ctrl+D) as EOFError."""
    from core.cli import _PromptedLines

    read_fd, write_fd = os.pipe()
    os.write(write_fd, "name: Ocean\r\nyes\nlast é".encode())
    os.close(write_fd)
    lines = _PromptedLines("you> ", read_fd)
    try:
        assert [lines(), lines(), lines()] == ["name: Ocean", "yes", "last é"]
        with pytest.raises(EOFError):
            lines()
    finally:
        os.close(read_fd)
    assert capsys.readouterr().out == "you> " * 4


def test_looking_where_there_is_no_database_creates_none(tmp_path: Path) -> None:
    """``intake submissions list`` run from another directory used to make an empty
    ./intake.db there and answer "No submissions yet"; now it says where it looked."""
    from tests.test_cli import intake

    for words in (("submissions", "list"), ("events", "list"), ("outbox", "list")):
        result = intake(*words, cwd=tmp_path)
        assert result.returncode == 1 and result.stdout == "", result
        assert result.stderr.startswith("intake: there is no database at "), result.stderr
        assert "INTAKE_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())
    assert intake("db", "upgrade", cwd=tmp_path).returncode == 0  # this one creates it
    assert intake("submissions", "list", cwd=tmp_path).stdout.startswith("No submissions")


async def test_show_prints_one_line_per_history_row_and_message(db: Database) -> None:
    """``submissions show`` had a blank line after every history row and every message
    (an expression line keeps its newline under trim_blocks); a draft's show too."""
    from tests.test_submission_show import CARD, show

    chat = Transcript(make_service(db))
    await chat.say("name: Ocean")
    _, draft = await show(db)
    for text in ("name: Ocean Temperatures", "https://example.org/ocean", "yes"):
        await chat.say(text)
    await chat.upload("README.md", CARD)
    for text in ("text", "Marine", "ada@example.org", "yes, I agree", "yes"):
        await chat.say(text)
    _, submitted = await show(db)
    for shown in (draft, submitted):
        history, messages = shown.split("History:", 1)[1].split("Messages:", 1)
        for section in (history, messages):
            lines = section.strip("\n").split("\n")
            assert lines and all(line.startswith("  ") for line in lines), shown
    assert len(submitted.split("Messages:", 1)[1].strip().splitlines()) >= 10


ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_tells_a_newcomer_what_is_true() -> None:
    """The README's terminal transcript uses a card that exists and passes, shows the
    prompt as chat prints it; every setting the code reads is in its table; the e-mail
    trial needs nothing the clone does not install (swaks is optional)."""
    from core.cards.cli import run_check_card_cli

    readme = (ROOT / "README.md").read_text()
    transcript = readme.split("$ .venv/bin/intake chat", 1)[1].split("```", 1)[0]
    card = next(line.split("card:", 1)[1].strip() for line in transcript.splitlines()
                if line.startswith("you> card:"))
    assert run_check_card_cli(str(ROOT / card), False, 1_048_576, out=io.StringIO()) == 0
    said = [line for line in transcript.splitlines() if "intake>" in line]
    assert said and all(line.startswith("[OTDI-0001] intake> ") for line in said)
    for field in Settings.model_fields:
        assert f"`{settings_view.env_name(field)}`" in readme, field
    assert ".venv/bin/aiosmtpd -n -l 127.0.0.1:8026" in readme
    assert "INTAKE_RELAY_PORT=8026 .venv/bin/intake serve" in readme
    assert "Python 3.11" in readme
