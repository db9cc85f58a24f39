"""The inbox's own knobs, read from the environment like the core settings.

They extend the operator contract (``INTAKE_MAIL_*``); the defaults suit one process.
"""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class MailOptions(BaseSettings):
    """Rate limit, processing concurrency and retry budget of the e-mail adapter."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # At most this many replies to one address per hour: a robot that does not say it is
    # one (no Auto-Submitted header) can only ever get this many answers from us.
    replies_per_hour: int = Field(6, validation_alias=AliasChoices(
        "INTAKE_MAIL_REPLIES_PER_HOUR"))
    # Messages processed at once (one sender's messages are always processed in order).
    concurrency: int = Field(8, validation_alias=AliasChoices("INTAKE_MAIL_CONCURRENCY"))
    # A message whose processing failed is retried at start-up until it has had this many.
    max_attempts: int = Field(3, validation_alias=AliasChoices("INTAKE_MAIL_MAX_ATTEMPTS"))
    # How often the database is looked at for messages stored by another process.
    poll_seconds: float = Field(5.0, validation_alias=AliasChoices("INTAKE_MAIL_POLL_SECONDS"))
    relay_timeout: float = Field(30.0, validation_alias=AliasChoices(
        "INTAKE_MAIL_RELAY_TIMEOUT"))
    max_recipients: int = 20
