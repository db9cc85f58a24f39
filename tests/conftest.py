"""Shared fixtures: a migrated database on SQLite and, when configured, PostgreSQL.

``INTAKE_TEST_POSTGRES_URL`` (e.g. ``postgresql+psycopg://postgres@127.0.0.1/test``)
adds PostgreSQL: a fresh database is created for the run and dropped after it.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.storage.database import Database
from core.storage.models import Base

POSTGRES_URL = os.environ.get("INTAKE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgresql"] if POSTGRES_URL else ["sqlite"]
EXIT_GRACE_SECONDS = 60


def pytest_configure(config: pytest.Config) -> None:
    """``kill -USR1`` on a stalled run prints where every thread is."""
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The results are reported by now; a thread left blocked by a test must not keep the
    run from ending (CI once stalled after its last test). Past a grace period the stacks
    of every thread still alive are printed, and the run ends with the tests' own status."""

    def watchdog() -> None:
        threading.Event().wait(EXIT_GRACE_SECONDS)
        print(f"\nthe test run did not exit {EXIT_GRACE_SECONDS} s after its last test; "
              "threads still alive:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(int(exitstatus))

    threading.Thread(target=watchdog, name="exit-watchdog", daemon=True).start()


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that tries to reach beyond this machine fails loudly."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        if isinstance(address, tuple) and self.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            if not (host.startswith("127.") or host in ("::1", "localhost")):
                raise RuntimeError(f"test tried to reach {address}: tests stay on loopback")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _sync_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(False)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str | None]:
    """One throw-away PostgreSQL database for the whole run."""
    if not POSTGRES_URL:
        yield None
        return
    name = f"intake_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(_sync_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    try:
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: os.PathLike[str],
             postgres_database: str | None) -> AsyncIterator[Database]:
    """A migrated, empty database; each test gets its own (PostgreSQL: tables emptied)."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path}/intake.db")
    else:
        assert postgres_database is not None
        database = Database(postgres_database)
    await database.upgrade()
    if request.param == "postgresql":
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with database.engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield database
    finally:
        await database.dispose()
