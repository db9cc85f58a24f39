"""The ``intake`` command: the operator contract of DESIGN.md section 3."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import getpass
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # imported where used: `intake check-card` must not pay for them
    from core.render import Renderer
    from core.runtime import Listening, Runtime
    from core.settings import Settings

T = TypeVar("T")


def _settings_help(command: str | None) -> str:
    """The settings a command reads, with what each means (from templates/cli/settings)."""
    from core import settings_view
    from core.render import Renderer

    fields = settings_view.all_fields_for(command) if command else None
    return Renderer().render("cli/settings", {
        "help": True, "names": bool(command),
        "settings": settings_view.lines(None, fields)}).rstrip()


class _Subcommands(argparse._SubParsersAction):  # type: ignore[type-arg]
    """Every subcommand's --help ends with the settings it reads."""

    def add_parser(self, name: str, **kwargs: object) -> argparse.ArgumentParser:
        kwargs.setdefault("epilog", _settings_help(name))
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("description", kwargs.get("help"))
        return super().add_parser(name, **kwargs)  # type: ignore[arg-type]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intake", description="OTDI dataset intake.",
                                     epilog=_settings_help(None),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.register("action", "parsers", _Subcommands)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("settings", help="the effective settings (secrets masked)")
    sub.add_parser("serve", help="everything in one process: SMTP inbox, HTTP (Slack endpoint "
                   "when configured, /healthz, /metrics, review desk), worker")
    sub.add_parser("mail", help="the SMTP inbox only: stores e-mails; a worker answers them")
    sub.add_parser("web", help="the HTTP process only: /slack/events, /healthz, /metrics, "
                   "the review desk; a worker processes what it stores")
    sub.add_parser("worker", help="the worker only: processes stored events, delivers the "
                   "outbox (e-mail and Slack)")
    chat = sub.add_parser("chat", help="the conversation in this terminal")
    chat.add_argument("--as", dest="contributor", default=None,
                      help="contributor id (default: your login name)")
    check = sub.add_parser("check-card", help="check a dataset card")
    check.add_argument("path")
    check.add_argument("--json", action="store_true", help="machine-readable report")
    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"])
    subs = sub.add_parser("submissions", help="what is in the database")
    subs_sub = subs.add_subparsers(dest="action", required=True)
    subs_list = subs_sub.add_parser("list", help="every submission, oldest first")
    subs_list.add_argument("--status", default=None,
                           help="only those in this status (submitted, in_review, "
                           "changes_requested, resubmitted, approved, rejected, withdrawn)")
    show = subs_sub.add_parser("show", help="one submission with its cards and history")
    show.add_argument("reference")
    exporting = ("write one submission into a new directory (not an archive): record.json "
                 "(fields, status, card reports, history, messages) and cards/ (every card "
                 "version as received)")
    export = subs_sub.add_parser("export", help=exporting, description=exporting)
    export.add_argument("reference")
    export.add_argument("--to", dest="directory", default=None,
                        help="the directory to create (default: ./REFERENCE); it must not "
                        "exist or be empty")
    events = sub.add_parser("events", help="the inbound log: events set aside (poisoned)")
    events_sub = events.add_subparsers(dest="action", required=True)
    events_list = events_sub.add_parser("list", help="logged events, newest state")
    events_list.add_argument("--poisoned", action="store_true",
                             help="only those set aside after repeated failures")
    events_retry = events_sub.add_parser("retry", help="put poisoned events back in line")
    events_retry.add_argument("ids", nargs="*", type=int)
    events_retry.add_argument("--all-poisoned", action="store_true")
    outbox = sub.add_parser("outbox", help="messages to deliver, and those given up on")
    outbox_sub = outbox.add_subparsers(dest="action", required=True)
    outbox_list = outbox_sub.add_parser("list", help="outbox messages")
    outbox_list.add_argument("--dead", action="store_true",
                             help="only those given up on (INTAKE_OUTBOX_GIVE_UP_AFTER)")
    outbox_retry = outbox_sub.add_parser("retry", help="deliver dead messages again")
    outbox_retry.add_argument("ids", nargs="*", type=int)
    outbox_retry.add_argument("--all-dead", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["check-card"]:  # before anything heavy is imported
        from core.cards.cli import main as check_card_main

        return check_card_main(words[1:])
    args = _parser().parse_args(words)
    from core.logs import configure
    from core.startup import StartupError, load_settings

    try:
        settings = load_settings()  # before anything else: a bad setting is one line
        quiet = args.command == "chat" and "log_level" not in settings.model_fields_set
        configure("WARNING" if quiet else settings.log_level, settings.log_format)  # chat:
        # the terminal is the conversation; its log lines only when asked for
        return asyncio.run(_dispatch(args, settings))
    except StartupError as error:
        print(f"intake: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:  # SIGTERM (core.runtime.stop_on_sigterm): stopped cleanly
        return 0


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from core.render import Renderer
    from core.runtime import available_adapters, build_runtime, run_parts
    from core.startup import open_database, upgrade_database

    renderer = Renderer()
    if args.command == "check-card":
        from core.cards import run_check_card_cli

        return run_check_card_cli(args.path, args.json, settings.max_card_bytes)
    if args.command == "settings":
        from core import settings_view

        print(renderer.render("cli/settings", {"help": False, "settings": [
            *settings_view.lines(settings), *settings_view.adapter_lines()]}))
        return 0
    if args.command in ("submissions", "events", "outbox"):
        from core.startup import require_existing_database

        require_existing_database(settings.database_url)
    runtime = build_runtime(settings, open_database(settings))
    if args.command == "db":
        try:
            before, after = await upgrade_database(runtime.db)
        finally:
            await runtime.db.dispose()
        print(renderer.render("cli/db_upgraded", {"url": _safe_url(settings.database_url),
                                                  "before": before, "after": after}))
        return 0
    if args.command == "submissions":
        from core import reports

        try:
            await upgrade_database(runtime.db)
            if args.action == "list":
                return await reports.print_list(runtime.db, renderer, args.status)
            if args.action == "export":
                return await reports.export(runtime.db, renderer, args.reference,
                                            args.directory)
            return await reports.print_show(runtime.db, renderer, args.reference)
        finally:
            await runtime.db.dispose()
    if args.command in ("events", "outbox"):
        return await _queues(args, runtime, renderer)
    if args.command == "chat":
        from core.chat import TerminalChat

        await upgrade_database(runtime.db)
        contributor = args.contributor or getpass.getuser()
        chat = TerminalChat(runtime, contributor)
        asyncio.get_running_loop().set_default_executor(_UnwaitedThreads())
        try:
            await chat.run(_PromptedLines("you> "))
        except asyncio.CancelledError:  # Ctrl+C at the prompt: every line is already saved
            print("\n" + renderer.render("chat_goodbye", {}))
            raise
        finally:
            await runtime.db.dispose()
        return 0
    wanted = {"serve": ["mail", "web"], "mail": ["mail"], "web": ["web"], "worker": []}
    names = wanted[args.command]
    missing = [name for name in names if name not in available_adapters()]
    if args.command in ("mail", "web") and missing:
        print(renderer.render("cli/adapter_missing", {"name": args.command}), file=sys.stderr)
        return 2
    names = [name for name in names if name not in missing]
    with_worker = args.command in ("serve", "worker")

    def banner(listening: list[Listening]) -> None:
        """Printed once every listener is bound: each address, the database."""
        print(renderer.render("cli/serving", {
            "parts": names, "worker": with_worker, "settings": settings,
            "listening": listening, "url": _safe_url(settings.database_url)}), flush=True)

    await run_parts(runtime, names, with_worker=with_worker, on_ready=banner)
    return 0


async def _queues(args: argparse.Namespace, runtime: Runtime, renderer: Renderer) -> int:
    """``intake events ...`` and ``intake outbox ...``: list, or put back in line."""
    from core import reports
    from core.startup import upgrade_database

    try:
        await upgrade_database(runtime.db)
        if args.command == "events":
            if args.action == "list":
                return await reports.print_events(runtime.db, renderer,
                                                  "poisoned" if args.poisoned else None)
            if not args.ids and not args.all_poisoned:
                print(renderer.render("cli/retry_what", {"command": "events",
                                                         "all": "--all-poisoned"}))
                return 2
            return await reports.retry_events(runtime.db, renderer, args.ids or None)
        if args.action == "list":
            return await reports.print_outbox(runtime.db, renderer,
                                              "dead" if args.dead else None)
        if not args.ids and not args.all_dead:
            print(renderer.render("cli/retry_what", {"command": "outbox", "all": "--all-dead"}))
            return 2
        return await reports.retry_outbox(runtime.db, renderer, args.ids or None)
    finally:
        await runtime.db.dispose()


class _PromptedLines:
    """``intake chat``'s prompt: one line per call, read from the descriptor itself.

    Not ``input()``: the read blocks a thread that Ctrl+C cannot interrupt, and one
    blocked inside ``sys.stdin``'s buffer holds its lock, which aborts the interpreter's
    shutdown ("could not acquire lock for <stdin>") when stdin is a pipe.
    """

    def __init__(self, prompt: str, fd: int = 0) -> None:
        self.prompt, self.fd, self.pending = prompt, fd, b""

    def __call__(self) -> str:
        sys.stdout.write(self.prompt)
        sys.stdout.flush()
        while b"\n" not in self.pending:
            chunk = os.read(self.fd, 65536)
            if not chunk:  # end of input (Ctrl+D): a last line without its newline first
                if not self.pending:
                    raise EOFError
                self.pending += b"\n"
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        encoding = getattr(sys.stdin, "encoding", None) or "utf-8"
        return line.decode(encoding, errors="replace").removesuffix("\r")


class _UnwaitedThreads(concurrent.futures.ThreadPoolExecutor):
    """``intake chat``'s executor: a daemon thread per call, never joined. The prompt's
    read runs in one and cannot be interrupted; with the default pool, Ctrl+C cancels
    the chat but ``asyncio.run`` then waits for that thread, for ever. (A
    ``ThreadPoolExecutor`` only because asyncio accepts no other as its default.)"""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any
               ) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as error:  # noqa: BLE001 - handed to the awaiting task
                future.set_exception(error)

        threading.Thread(target=run, name="intake-chat-input", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Nothing to wait for: a thread still blocked reading the terminal is let go."""


def _safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    from core.startup import safe_url

    return safe_url(url)


if __name__ == "__main__":
    sys.exit(main())

