"""The inbox's own knobs, read from the environment like the core settings.

They extend the operator contract (``INTAKE_MAIL_*``); the defaults suit one process.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailOptions(BaseSettings):
    """The loop guard's limit, the SMTP session cap and the relay's timeout."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # The core's loop guard (core.loops): a reply that makes no progress is not sent when
    # the last this-many replies to the same address within an hour said the same; a
    # robot that does not say it is one (no Auto-Submitted header) cannot loop with us.
    replies_per_hour: int = Field(6, validation_alias=AliasChoices(
        "INTAKE_MAIL_REPLIES_PER_HOUR"))
    # SMTP sessions open at once; past it a new one is greeted with 421 (try later), so
    # a burst of large messages cannot take the process's memory.
    max_sessions: int = Field(50, validation_alias=AliasChoices("INTAKE_SMTP_MAX_SESSIONS"))
    relay_timeout: float = Field(30.0, validation_alias=AliasChoices(
        "INTAKE_MAIL_RELAY_TIMEOUT"))
    max_recipients: int = 20
