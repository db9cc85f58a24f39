"""Real `intake` processes for end-to-end tests, and senders that retry as MTAs and Slack do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib

from tests.fake_slack import SlackSender
from tests.mail.conftest import letter

DEADLINE = 150.0
INTAKE = str(Path(sys.executable).with_name("intake"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Service:
    """An `intake` process as an operator starts it (``serve``, ``mail``, ``web``,
    ``worker``), and kills it; ``ports`` are the ones it must have bound when ready."""

    def __init__(self, env: dict[str, str], cwd: Path, command: str = "serve",
                 ports: tuple[str, ...] = ("INTAKE_SMTP_PORT", "INTAKE_HTTP_PORT")) -> None:
        self.env = env
        self.cwd = cwd
        self.command = command
        self.ports = [int(env[name]) for name in ports]
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def log_path(self) -> Path:
        return self.cwd / f"{self.command}-{id(self)}-{self.starts}.log"

    async def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("wb")
        self.process = await asyncio.create_subprocess_exec(
            INTAKE, self.command, env=self.env, cwd=self.cwd, stdout=log, stderr=log,
            stdin=asyncio.subprocess.DEVNULL)
        await self._ready()

    async def _ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.returncode is None, \
                self.log_path.read_text()
            try:
                for port in self.ports:
                    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                return
            except OSError:
                await asyncio.sleep(0.05)  # polling a port that is not bound yet
        raise TimeoutError("intake serve did not start")

    async def kill(self) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            await self.kill()


async def send_mail(port: int, index: int, accepted: dict[str, str],
                    prefix: str = "crash") -> None:
    """One new contributor's first e-mail, retried as an MTA would until it gets 250."""
    sender = f"{prefix}{index:03d}@example.org"
    message = letter(f"Hello, I would like to contribute a dataset ({index}).",
                     sender=sender, subject=f"Dataset {index}")
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port, timeout=20)
        except (aiosmtplib.SMTPException, OSError):
            await asyncio.sleep(0.2)  # the server is down: an MTA queues and retries
            continue
        accepted[sender] = str(message["Message-ID"])
        return


async def send_dm(sender: SlackSender, index: int, accepted: set[str],
                  prefix: str = "UC") -> None:
    """One Slack user's first DM; Slack retries with the same event_id until HTTP 200."""
    user = f"{prefix}{index:04d}"
    event = SlackSender.dm(user, "hello")
    retry = 0
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        try:
            answer = await sender.event(event, event_id=f"Ev{user}",
                                        retry_num=retry or None)
        except (TimeoutError, aiohttp.ClientError, OSError):
            answer = None
        if answer is not None and answer.status == 200:
            accepted.add(user)
            return
        retry += 1
        await asyncio.sleep(0.2)  # Slack's own retry comes later still


def environment(**values: str) -> dict[str, str]:
    """This process's environment without any INTAKE_/SLACK_ setting, plus ``values``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "SLACK_"))}
    return {**base, **values}


async def until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached before the deadline: {what}")
        await asyncio.sleep(0.2)  # polling the database and the sinks


