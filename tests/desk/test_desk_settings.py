"""The desk's settings as an operator sees them (``intake settings``, ``intake web --help``)."""

from __future__ import annotations

from core.settings import Settings
from core.settings_view import READS, lines


def test_the_desk_secret_is_masked_and_web_lists_the_desk_settings() -> None:
    settings = Settings(_env_file=None, INTAKE_DESK_SECRET="s3cret-value",
                        INTAKE_DESK_URL="https://intake.example.org")
    shown = {line.name: line.value for line in lines(settings)}
    assert shown["INTAKE_DESK_SECRET"] == "********"
    assert shown["INTAKE_DESK_URL"] == "https://intake.example.org"
    assert {"desk_url", "desk_secret", "review_emails"} <= set(READS["web"])
