"""What an operator's first trial of ``intake`` found, kept fixed.

Every setting of the contract set wrong is one clear line (never a traceback, never
accepted to fail later at a bind or a log call); ``intake settings`` and each
``--help`` say what every setting means; an empty value is unset.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import settings_view
from core.settings import Settings
from core.startup import StartupError, load_settings


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
