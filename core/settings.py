"""Settings from the environment and a ``.env`` file, named as the operator contract says."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import AliasChoices, Field, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_NUMBER = re.compile(r"\d+(\.\d+)?")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")
_DURATION = re.compile(r"(\s*\d+(\.\d+)?\s*[dhms])+\s*")
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_SUBMIT = re.compile(r"[^@\s+<>]+@[^@\s<>]+")
_ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Everything an operator can set. Slack is enabled when both its token and secret are set."""

    # An empty value (``INTAKE_METRICS_PORT=`` in a .env template) means unset: the default.
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True,
                                      env_ignore_empty=True)

    database_url: str = Field("sqlite+aiosqlite:///./intake.db",
                              validation_alias=_env("INTAKE_DATABASE_URL"))
    smtp_host: str = Field("127.0.0.1", validation_alias=_env("INTAKE_SMTP_HOST"))
    smtp_port: int = Field(8025, ge=0, le=65535, validation_alias=_env("INTAKE_SMTP_PORT"))
    submit_address: str = Field("data@localhost", validation_alias=_env("INTAKE_SUBMIT_ADDRESS"))
    relay_host: str = Field("127.0.0.1", validation_alias=_env("INTAKE_RELAY_HOST"))
    relay_port: int = Field(25, ge=1, le=65535, validation_alias=_env("INTAKE_RELAY_PORT"))
    relay_username: str | None = Field(None, validation_alias=_env("INTAKE_RELAY_USERNAME"))
    relay_password: str | None = Field(None, validation_alias=_env("INTAKE_RELAY_PASSWORD"))
    relay_starttls: bool = Field(False, validation_alias=_env("INTAKE_RELAY_STARTTLS"))
    http_host: str = Field("127.0.0.1", validation_alias=_env("INTAKE_HTTP_HOST"))
    http_port: int = Field(3000, ge=0, le=65535, validation_alias=_env("INTAKE_HTTP_PORT"))
    # GET /metrics on a listener of its own (on INTAKE_HTTP_HOST), for processes without
    # HTTP (intake mail, intake worker); unset: only the web process's /metrics.
    metrics_port: int | None = Field(None, ge=0, le=65535,
                                       validation_alias=_env("INTAKE_METRICS_PORT"))
    slack_bot_token: str | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: str | None = Field(None, validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: str | None = Field(None, validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str = Field("https://slack.com/api/", validation_alias=_env("SLACK_API_URL"))
    review_channel: str | None = Field(None, validation_alias=_env("INTAKE_REVIEW_CHANNEL"))
    reviewers: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("INTAKE_REVIEWERS"))
    review_emails: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("INTAKE_REVIEW_EMAILS"))
    # The review desk in the browser (desk/): the address its sign-in links point at
    # (unset: http://INTAKE_HTTP_HOST:<the port it listens on>), and the key its session
    # cookies are signed with (unset: a random key per process, so a restart signs out).
    desk_url: str | None = Field(None, validation_alias=_env("INTAKE_DESK_URL"))
    desk_secret: str | None = Field(None, validation_alias=_env("INTAKE_DESK_SECRET"))
    max_card_bytes: int = Field(1_048_576, gt=0, validation_alias=_env("INTAKE_MAX_CARD_BYTES"))
    max_message_bytes: int = Field(26_214_400, gt=0,
                                   validation_alias=_env("INTAKE_MAX_MESSAGE_BYTES"))
    log_level: str = Field("INFO", validation_alias=_env("INTAKE_LOG_LEVEL"))
    log_format: str = Field("text", pattern="^(text|json)$",
                            validation_alias=_env("INTAKE_LOG_FORMAT"))
    lease_seconds: float = Field(60.0, gt=0, validation_alias=_env("INTAKE_LEASE_SECONDS"))
    outbox_give_up_after: timedelta = Field(
        timedelta(days=5), validation_alias=_env("INTAKE_OUTBOX_GIVE_UP_AFTER"))
    # Sender authentication of e-mail (core.trust, mail.auth): the authserv-ids of the
    # receiving servers whose Authentication-Results header we believe (RFC 8601).
    trusted_authserv_ids: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias=_env("INTAKE_TRUSTED_AUTHSERV_IDS"))
    verify_dkim: bool = Field(False, validation_alias=_env("INTAKE_VERIFY_DKIM"))
    require_sender_auth: bool = Field(False, validation_alias=_env("INTAKE_REQUIRE_SENDER_AUTH"))
    confirm_within: timedelta = Field(timedelta(hours=24),
                                      validation_alias=_env("INTAKE_CONFIRM_WITHIN"))

    @field_validator("reviewers", "review_emails", "trusted_authserv_ids", mode="before")
    @classmethod
    def _split_list(cls, value: object) -> object:
        """Accept ``U1,U2`` or ``U1 U2`` as well as a JSON list."""
        if isinstance(value, str):
            return [part for part in value.replace(",", " ").split() if part]
        return value

    @field_validator("outbox_give_up_after", "confirm_within", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        """Accept seconds (``432000``) or ``5d``, ``12h``, ``30m``, ``1d12h``; else pydantic's
        (``12:00:00``, ``P5D``), with the forms an operator writes named when none fits."""
        if isinstance(value, str):
            text = value.strip().lower()
            if _NUMBER.fullmatch(text):
                return timedelta(seconds=float(text))
            if _DURATION.fullmatch(text):
                return sum((timedelta(**{_UNITS[unit]: float(number)})
                            for number, unit in _PART.findall(text)), timedelta())
            try:
                return TypeAdapter(timedelta).validate_python(text)
            except ValidationError:
                raise ValueError("write seconds, or a duration such as 5d, 12h, 30m or "
                                 "1d12h") from None
        return value

    @field_validator("outbox_give_up_after", "confirm_within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        """A duration of nothing (or less) would give up or expire at once."""
        if value <= timedelta(0):
            raise ValueError("must be longer than 0 (e.g. 5d, 12h, 30m)")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: object) -> object:
        """A level the logging module knows, in any case (``debug``): else one clear line,
        not logging's traceback at start-up."""
        if isinstance(value, str):
            level = value.strip().upper()
            if level not in _LOG_LEVELS:
                raise ValueError("use DEBUG, INFO, WARNING or ERROR")
            return level
        return value

    @field_validator("submit_address")
    @classmethod
    def _submit_address(cls, value: str) -> str:
        """``local@domain`` without a ``+``: replies add ``+TOKEN`` to it (empty: no inbox)."""
        if value and not _SUBMIT.fullmatch(value.strip()):
            raise ValueError("use a plain address such as data@example.org (no +tag: "
                             "replies add +TOKEN to it)")
        return value.strip()

    @field_validator("review_emails")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        """A typo (``rita.example.org``) would otherwise silently leave no one to review."""
        for address in value:
            if not _ADDRESS.fullmatch(address):
                raise ValueError(f"{address!r} is not an e-mail address (name@example.org)")
        return value

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)
