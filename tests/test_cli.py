"""The ``intake`` command as an operator and a newcomer use it, in real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CARD = Path(__file__).parent / "data" / "ocean_card.md"


def intake(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("intake")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]
    full_env = {**os.environ, "INTAKE_DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/intake.db",
                **(env or {})}
    return subprocess.run([*command, *args], input=stdin, capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=120)


def test_chat_completes_a_submission_that_show_prints(tmp_path: Path) -> None:
    session = "\n".join([
        "Ocean Temperatures", "http://example.org/ocean", "https://example.org/ocean",
        "yes", f"card: {CARD}", "text, images", "time-series", "ada@example.org",
        "yes, I agree", "yes",
    ]) + "\n"
    chat = intake("chat", "--as", "ada", cwd=tmp_path, stdin=session)
    assert chat.returncode == 0, chat.stderr
    assert "https://" in chat.stdout and "is submitted as OTDI-0001" in chat.stdout
    assert "answers are saved" in chat.stdout  # end of input says how to come back

    listing = intake("submissions", "list", cwd=tmp_path)
    assert "OTDI-0001" in listing.stdout and "Ocean Temperatures" in listing.stdout

    show = intake("submissions", "show", "OTDI-0001", cwd=tmp_path)
    assert show.returncode == 0, show.stderr
    for expected in ("Ocean Temperatures", "https://example.org/ocean",
                     "AI Alliance hosts it", "Text Only, Images", "Time Series",
                     "ada@example.org", "ocean_card.md", "field.set", "submitted",
                     "draft -> submitted", "review"):
        assert expected in show.stdout, expected

    missing = intake("submissions", "show", "OTDI-0099", cwd=tmp_path)
    assert missing.returncode == 1 and "No submission OTDI-0099" in missing.stdout


def test_chat_resumes_in_a_new_process(tmp_path: Path) -> None:
    first = intake("chat", "--as", "grace", cwd=tmp_path, stdin="Ocean\n")
    assert first.returncode == 0
    second = intake("chat", "--as", "grace", cwd=tmp_path, stdin="")
    assert "Welcome back" in second.stdout and "https://" in second.stdout


def test_db_upgrade_and_unknown_parts(tmp_path: Path) -> None:
    upgraded = intake("db", "upgrade", cwd=tmp_path)
    assert upgraded.returncode == 0 and "Database created at revision" in upgraded.stdout
    assert (tmp_path / "intake.db").exists()
    again = intake("db", "upgrade", cwd=tmp_path)
    assert again.returncode == 0 and "Database is up to date (revision" in again.stdout
    bad = intake("submissions", "show", "not-a-reference", cwd=tmp_path)
    assert bad.returncode == 1


def test_settings_are_listed_with_secrets_masked(tmp_path: Path) -> None:
    shown = intake("settings", cwd=tmp_path, env={
        "SLACK_BOT_TOKEN": "xoxb-very-secret", "INTAKE_RELAY_PASSWORD": "hunter2",
        "INTAKE_DATABASE_URL": "postgresql+psycopg://ops:pa55@db.internal/intake"})
    assert shown.returncode == 0, shown.stderr
    assert "xoxb-very-secret" not in shown.stdout and "hunter2" not in shown.stdout
    assert "pa55" not in shown.stdout and "ops:***@db.internal" in shown.stdout
    assert "INTAKE_SMTP_PORT" in shown.stdout and "8025" in shown.stdout
    # the e-mail adapter's own settings are listed too, with what the environment says
    limited = intake("settings", cwd=tmp_path, env={"INTAKE_SMTP_MAX_SESSIONS": "7"})
    [line] = [x for x in limited.stdout.splitlines() if x.startswith("INTAKE_SMTP_MAX_SESS")]
    assert line.split()[1] == "7" and "(default)" not in line
    assert "INTAKE_MAIL_REPLIES_PER_HOUR" in limited.stdout


def test_each_command_s_help_lists_the_settings_it_reads(tmp_path: Path) -> None:
    mail = intake("mail", "--help", cwd=tmp_path)
    assert mail.returncode == 0 and "INTAKE_SMTP_PORT" in mail.stdout
    assert "SLACK_BOT_TOKEN" not in mail.stdout  # the inbox does not read it
    web = intake("web", "--help", cwd=tmp_path)
    assert "SLACK_SIGNING_SECRET" in web.stdout and "INTAKE_HTTP_PORT" in web.stdout
    everything = intake("--help", cwd=tmp_path)
    assert "INTAKE_OUTBOX_GIVE_UP_AFTER" in everything.stdout


def test_chat_understands_prose_corrections_and_a_card_path_at_any_step(
        tmp_path: Path) -> None:
    session = "\n".join([
        "Hi! My dataset is called Ocean Temperatures and you can find it at "
        "http://example.org/ocean",
        "yes", "wait, the name is wrong, it should just be Ocean Temps",
        "we'll keep it ourselves", str(CARD), "text and images", "time-series",
        "oh right, it's ada@example.org", "I agree",
        str(CARD),  # a corrected card at the summary: a card, not "yes or no?"
        "yes",
    ]) + "\n"
    chat = intake("chat", "--as", "ada", cwd=tmp_path, stdin=session)
    assert chat.returncode == 0, chat.stderr
    out = chat.stdout
    assert "I understood: name Ocean Temperatures, location https://example.org/ocean" in out
    assert "Dataset name: Ocean Temps" in out
    assert "type the path of the README.md" in out and "attach" not in out
    assert "Contact e-mail: ada@example.org" in out
    assert "new version of your card" in out
    assert "did not understand that as a yes or a no" not in out
    assert "is submitted as OTDI-0001" in out
