"""The effective settings as an operator sees them: every name, its value, secrets masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import AliasChoices

from core.settings import Settings

SECRETS = {"relay_password", "slack_bot_token", "slack_signing_secret", "slack_app_token",
           "desk_secret"}

# Which settings each command reads (its --help lists them).
READS: dict[str, tuple[str, ...]] = {
    "mail": ("database_url", "smtp_host", "smtp_port", "submit_address", "max_message_bytes",
             "max_card_bytes", "log_level", "log_format", "lease_seconds", "metrics_port"),
    "web": ("database_url", "http_host", "http_port", "slack_bot_token", "slack_signing_secret",
            "slack_app_token", "slack_api_url", "review_channel", "reviewers",
            "max_card_bytes", "log_level", "log_format", "lease_seconds", "review_emails",
            "desk_url", "desk_secret"),
    "worker": ("database_url", "submit_address", "relay_host", "relay_port", "relay_username",
               "relay_password", "relay_starttls", "slack_bot_token", "slack_signing_secret",
               "slack_api_url", "review_channel", "review_emails", "log_level", "log_format",
               "lease_seconds", "outbox_give_up_after", "metrics_port",
               "trusted_authserv_ids", "verify_dkim",
               "require_sender_auth", "confirm_within"),
    "chat": ("database_url", "max_card_bytes", "log_level", "log_format"),
    "check-card": ("max_card_bytes",),
    "db": ("database_url",),
    "submissions": ("database_url",),
    "events": ("database_url",),
    "outbox": ("database_url", "outbox_give_up_after"),
}


@dataclass(frozen=True)
class SettingLine:
    name: str
    value: str
    default: bool


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias.choices[0] if isinstance(alias, AliasChoices) else field.upper()


def lines(settings: Settings | None, fields: tuple[str, ...] | None = None) -> list[SettingLine]:
    """Each setting with its value (masked when secret); without settings, names only."""
    wanted = fields or tuple(Settings.model_fields)
    out = []
    for field in wanted:
        if settings is None:
            out.append(SettingLine(env_name(field), "", False))
            continue
        value = getattr(settings, field)
        if field in SECRETS and value:
            shown = "********"
        elif field == "database_url":
            from core.startup import safe_url

            shown = safe_url(value)  # unparsable: said so, never a traceback
        else:
            shown = written(value)
        out.append(SettingLine(env_name(field), shown,
                               field not in settings.model_fields_set))
    return out


def written(value: object) -> str:
    """A value as it is written in the environment: ``true``, ``5d``, ``a,b``."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "(empty)"
    if isinstance(value, bool):
        return str(value).lower()  # as it is written: INTAKE_VERIFY_DKIM=true
    if isinstance(value, timedelta):
        return duration(value)
    return "(unset)" if value is None else str(value)


def adapter_lines() -> list[SettingLine]:
    """The installed adapters' own settings (``options_model``, e.g. the e-mail adapter's
    ``INTAKE_SMTP_MAX_SESSIONS``): the core does not know them, each adapter says."""
    from pydantic import ValidationError

    from core.runtime import available_adapters

    out: list[SettingLine] = []
    for factory in available_adapters().values():
        model = getattr(factory, "options_model", None)
        if model is None:
            continue
        try:
            options = model()
        except ValidationError:
            options = None
        for field, info in model.model_fields.items():
            alias = info.validation_alias
            if not isinstance(alias, AliasChoices):
                continue  # an inner knob, not a setting
            value = written(getattr(options, field)) if options else "(invalid)"
            out.append(SettingLine(str(alias.choices[0]), value,
                                   options is not None and field not in options.model_fields_set))
    return out


def duration(value: timedelta) -> str:
    """A duration in the form it is set (``5d``, ``12h``, ``1d12h``, ``90s``), not ``5 days,
    0:00:00``."""
    seconds = value.total_seconds()
    if seconds != int(seconds):
        return f"{seconds:g}s"
    left, parts = int(seconds), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    return "".join(parts) or "0s"


def all_fields_for(command: str) -> tuple[str, ...]:
    if command == "serve":
        return tuple(dict.fromkeys(f for c in ("mail", "web", "worker") for f in READS[c]))
    return READS.get(command, ())
