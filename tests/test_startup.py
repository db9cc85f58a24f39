"""Start-up as an operator meets it: the installed ``intake`` in a real subprocess.

Each failure an operator can fix is one line on stderr (what, which setting, how to fix
it), exit code 1 and no traceback; the banner comes only once every listener is bound,
and names each address and the database without its password.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from core.storage.database import Database
from tests.fake_slack import FakeSlack

DEADLINE = 60.0


def command() -> list[str]:
    script = Path(sys.executable).with_name("intake")
    return [str(script)] if script.exists() else [sys.executable, "-m", "core.cli"]


def environment(cwd: Path, **values: str) -> dict[str, str]:
    """The test's environment with no Slack, free ports, a database of its own."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("SLACK_", "INTAKE_"))}
    # INTAKE_DESK_SECRET unset, as on the defaults: its warning comes only once the
    # process listens, so a start-up failure is still one line.
    env.update({"INTAKE_DATABASE_URL": f"sqlite+aiosqlite:///{cwd}/intake.db",
                "INTAKE_SMTP_PORT": "0", "INTAKE_HTTP_PORT": "0"})
    env.update(values)
    return env


def intake(*args: str, cwd: Path, **values: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*command(), *args], capture_output=True, text=True, cwd=cwd,
                          env=environment(cwd, **values), timeout=DEADLINE,
                          stdin=subprocess.DEVNULL)


def one_clear_line(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    """Exit 1, nothing on stdout (no banner), exactly one line on stderr, no traceback."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("intake: ")
    for text in expected:
        assert text in line, (text, line)
    return line


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port some other program is listening on."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        yield int(other.getsockname()[1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_setting_that_does_not_parse(tmp_path: Path) -> None:
    result = intake("serve", cwd=tmp_path, INTAKE_SMTP_PORT="twenty-five")
    one_clear_line(result, "INTAKE_SMTP_PORT", "'twenty-five'", "environment or .env")


@pytest.mark.parametrize("url", ["not a url", "postgres://ops@db.internal/intake",
                                 "sqlite:///./intake.db"])
def test_a_malformed_database_url(tmp_path: Path, url: str) -> None:
    result = intake("serve", cwd=tmp_path, INTAKE_DATABASE_URL=url)
    one_clear_line(result, "INTAKE_DATABASE_URL", "cannot be used",
                   "sqlite+aiosqlite:///./intake.db")


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_an_unreachable_database(tmp_path: Path, kind: str) -> None:
    url = (f"postgresql+psycopg://ops:s3cret@127.0.0.1:{free_port()}/intake"
           if kind == "postgresql" else "sqlite+aiosqlite:////nonexistent-dir/intake.db")
    result = intake("serve", cwd=tmp_path, INTAKE_DATABASE_URL=url)
    line = one_clear_line(result, "cannot reach the database", "INTAKE_DATABASE_URL")
    assert "s3cret" not in line
    if kind == "postgresql":
        assert "ops:***@127.0.0.1" in line and "refused" in line.lower()


@pytest.mark.parametrize(("part", "setting", "what"), [
    ("mail", "INTAKE_SMTP_PORT", "SMTP"), ("web", "INTAKE_HTTP_PORT", "HTTP"),
    ("worker", "INTAKE_METRICS_PORT", "metrics")])
def test_a_busy_port(tmp_path: Path, busy_port: int, part: str, setting: str,
                     what: str) -> None:
    result = intake(part, cwd=tmp_path, **{setting: str(busy_port)})
    one_clear_line(result, f"cannot listen for {what} on 127.0.0.1:{busy_port}",
                   "already in use", f"set {setting} to a free port")


async def test_a_token_slack_refuses(tmp_path: Path) -> None:
    fake = FakeSlack(bot_token="xoxb-the-right-one")
    await fake.start()
    try:
        process = await asyncio.create_subprocess_exec(
            *command(), "web", cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=environment(tmp_path, SLACK_BOT_TOKEN="xoxb-revoked",
                            SLACK_SIGNING_SECRET="secret", SLACK_API_URL=fake.api_url))
        stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE)
    finally:
        await fake.stop()
    result = subprocess.CompletedProcess([], process.returncode or 0, stdout.decode(),
                                         stderr.decode())
    line = one_clear_line(result, "Slack refused SLACK_BOT_TOKEN (invalid_auth)",
                          "Bot User OAuth Token")
    assert "xoxb-revoked" not in line
    [call] = fake.calls_to("auth.test")
    assert call.token == "xoxb-revoked"


async def test_a_busy_port_with_slack_configured_is_still_one_line(tmp_path: Path,
                                                                  busy_port: int) -> None:
    """The Slack client made before the port failed is closed too: nothing else printed."""
    fake = FakeSlack(bot_token="xoxb-right")
    await fake.start()
    try:
        process = await asyncio.create_subprocess_exec(
            *command(), "serve", cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env=environment(tmp_path, SLACK_BOT_TOKEN="xoxb-right",
                            SLACK_SIGNING_SECRET="secret", SLACK_API_URL=fake.api_url,
                            INTAKE_HTTP_PORT=str(busy_port)))
        stdout, stderr = await asyncio.wait_for(process.communicate(), DEADLINE)
    finally:
        await fake.stop()
    result = subprocess.CompletedProcess([], process.returncode or 0, stdout.decode(),
                                         stderr.decode())
    one_clear_line(result, f"cannot listen for HTTP on 127.0.0.1:{busy_port}",
                   "set INTAKE_HTTP_PORT to a free port")
    assert len(fake.calls_to("auth.test")) == 1  # the token was checked first


async def test_the_banner_comes_once_every_listener_is_bound(tmp_path: Path,
                                                             db: Database) -> None:
    url = make_url(db.url)
    if url.get_backend_name() == "postgresql":  # trust auth: any password is accepted
        url = url.set(password="s3cret")
    process = await asyncio.create_subprocess_exec(
        *command(), "serve", cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=environment(tmp_path, INTAKE_DATABASE_URL=url.render_as_string(False),
                        INTAKE_METRICS_PORT="0"))
    try:
        banner: list[str] = []
        async with asyncio.timeout(DEADLINE):
            while not banner or not banner[-1].lstrip().startswith("Database:"):
                line = await process.stdout.readline()  # type: ignore[union-attr]
                assert line, "intake serve ended before its banner"
                banner.append(line.decode().rstrip())
        text = "\n".join(banner)
        assert "s3cret" not in text
        assert url.render_as_string(hide_password=True) in banner[-1]
        addresses = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
                     for line in banner[1:]}
        smtp = int(addresses["SMTP inbox"].split()[0].rsplit(":", 1)[1])
        http = addresses["HTTP"].split()[0].rstrip("/")
        metrics = addresses["Metrics"]

        # Every address named is already being listened on.
        reader, writer = await asyncio.open_connection("127.0.0.1", smtp)
        assert (await reader.readline()).startswith(b"220 ")
        writer.close()
        async with aiohttp.ClientSession() as session:
            async with session.get(http + "/healthz") as health:
                assert health.status == 200
            async with session.get(metrics) as page:
                assert page.status == 200
                families = {f.name: f for f in
                            text_string_to_metric_families(await page.text())}
        assert families["intake_database_up"].samples[0].value == 1
        assert {"intake_inbound_events", "intake_outbox_depth",
                "intake_submissions"} <= set(families)
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
