"""Start-up checks that end the process with one clear line, never a traceback.

Each failure an operator can fix (a setting that does not parse, a database URL that
names no usable driver, a database that does not answer, a port already taken, a Slack
token Slack refuses) becomes a ``StartupError``: what failed, which setting, how to fix
it. ``intake`` prints it on stderr and exits 1. In that order: settings, the database,
Slack's token, then the listeners; the banner comes only after all of them.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings import Settings
    from core.storage.database import Database

DATABASE_TIMEOUT = 30.0  # seconds the database may take to answer at start-up
URL_EXAMPLES = "e.g. sqlite+aiosqlite:///./intake.db or postgresql+psycopg://user@host/db"


class StartupError(Exception):
    """One line for the operator: what failed, which setting, how to fix it."""


def load_settings() -> Settings:
    """The settings, or the first one that does not validate, named as it is set."""
    from pydantic import ValidationError

    from core import settings_view
    from core.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first.get("loc") else ""
        name = settings_view.env_name(field) if field in Settings.model_fields else field
        shown = "" if field in settings_view.SECRETS else f" (got {first.get('input')!r})"
        message = str(first["msg"]).removeprefix("Value error, ")  # our validators' words
        raise StartupError(
            f"setting {name} is not valid: {message}{shown}; fix it in the environment "
            "or .env (each command's --help lists the settings it reads)") from None


def safe_url(url: str) -> str:
    """The database URL without its password, for printing (unparsable: not printed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(unparsable URL)"


def open_database(settings: Settings) -> Database:
    """The database object for ``INTAKE_DATABASE_URL``, or why that URL cannot be used."""
    from core.storage.database import Database

    url = settings.database_url
    try:
        return Database(url)
    except Exception as error:  # noqa: BLE001 - every way a URL can be unusable
        reason = _reason(error, url)
        if type(error).__name__ == "ArgumentError" and "parse" in reason:
            reason = "it is not a URL SQLAlchemy can parse"
        elif isinstance(error, ImportError):
            reason = f"its driver is not installed ({reason})"
        shown = safe_url(url)
        named = "INTAKE_DATABASE_URL" + ("" if shown.startswith("(") else f" {shown}")
        raise StartupError(f"{named} cannot be used: {reason}; set an async SQLAlchemy URL, "
                           f"{URL_EXAMPLES}") from None


def require_existing_database(url: str) -> None:
    """For a command that only looks (``submissions``, ``events``, ``outbox``): a SQLite
    file that is not there is a wrong directory or URL, said so, not a new empty
    database made in passing ("No submissions yet" next to the real one)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return  # open_database says why it cannot be used
    path = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or path in ("", ":memory:") or \
            path.startswith("file:") or Path(path).exists():
        return
    raise StartupError(
        f"there is no database at {Path(path).resolve()} (INTAKE_DATABASE_URL "
        f"{safe_url(url)}); run this where intake serve runs (the default is ./intake.db "
        "of the working directory), or set INTAKE_DATABASE_URL to its database")


async def upgrade_database(db: Database) -> tuple[str | None, str | None]:
    """Create or upgrade the schema: (revision before, after); a database that does not
    answer is one line."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        async with asyncio.timeout(DATABASE_TIMEOUT):
            return await db.upgrade()
    except TimeoutError:
        raise StartupError(
            f"cannot reach the database at {safe_url(db.url)}: no answer within "
            f"{DATABASE_TIMEOUT:g} s; check INTAKE_DATABASE_URL and that the server is "
            "running and reachable") from None
    except (SQLAlchemyError, OSError) as error:
        fix = ("check INTAKE_DATABASE_URL: the file's directory must exist and be writable"
               if db.is_sqlite else "check INTAKE_DATABASE_URL (host, port, database name, "
               "user) and that the server is running")
        raise StartupError(f"cannot reach the database at {safe_url(db.url)}: "
                           f"{_reason(error, db.url)}; {fix}") from None


def listen_failed(what: str, host: str, port: int, host_setting: str, port_setting: str,
                  error: OSError) -> StartupError:
    """A listener that could not bind, with the settings that place it."""
    code = getattr(error, "errno", None)
    if code == errno.EADDRINUSE:
        fix = (f"another process is using port {port}: stop it, or set {port_setting} to a "
               "free port")
        reason = "address already in use"
    elif code == errno.EACCES:
        fix = f"ports below 1024 need privileges: set {port_setting} to 1024 or above"
        reason = "permission denied"
    elif isinstance(error, socket.gaierror) or code == errno.EADDRNOTAVAIL:
        fix = f"set {host_setting} to an address of this machine (e.g. 127.0.0.1 or 0.0.0.0)"
        reason = error.strerror or "no such address here"
    else:
        fix = f"check {host_setting} and {port_setting}"
        reason = error.strerror or str(error)
    return StartupError(f"cannot listen for {what} on {host}:{port}: {reason.lower()}; {fix}")


def _reason(error: BaseException, url: str | None = None) -> str:
    """The driver's own words, first line only, without any password in them."""
    original: Any = getattr(error, "orig", None) or error
    text = str(original).strip().splitlines()[0] if str(original).strip() else \
        type(original).__name__
    text = text.removeprefix("connection failed: ").strip()
    if url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(url).password
        except (ArgumentError, ValueError):
            password = None
        if password:
            text = text.replace(str(password), "***")
    return " ".join(text.split()).rstrip(".")
