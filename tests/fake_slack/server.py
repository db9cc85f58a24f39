"""The fake Web API: ``POST /api/<method>``, file downloads, uploads and a Socket Mode socket."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

T = TypeVar("T")
LOGIN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"


@dataclass
class Call:
    """One request to the fake, as the app sent it."""

    method: str
    args: dict[str, Any]
    token: str | None
    status: int = 200


@dataclass
class Fault:
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    error: str | None = None
    channel: str | None = None  # only calls for this channel fail

    def applies(self, args: dict[str, Any]) -> bool:
        return self.channel is None or args.get("channel", args.get("channel_id")) == self.channel


@dataclass
class FakeFile:
    id: str
    name: str
    data: bytes
    mimetype: str
    size: int
    login_page: bool = False  # served as Slack does when the app lacks files:read

    def as_slack(self, base_url: str) -> dict[str, Any]:
        """The file object Slack puts in events (``files[0]``) and in ``files.info``."""
        url = f"{base_url}/files-pri/T1-{self.id}/{self.name}"
        filetype = self.name.rsplit(".", 1)[-1] if "." in self.name else "text"
        return {"id": self.id, "name": self.name, "title": self.name,
                "mimetype": self.mimetype, "filetype": filetype, "size": self.size,
                "url_private": url, "url_private_download": url + "?download=1",
                "mode": "hosted", "is_external": False}


@dataclass
class Posted:
    """A message in a channel, as the fake stores it."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    updates: int = 0
    files: list[str] = field(default_factory=list)  # ids of files shared with the message
    metadata: dict[str, Any] | None = None  # chat.postMessage's ``metadata``, as Slack keeps it

    @property
    def all_text(self) -> str:
        """The fallback text and every text in the blocks, for assertions."""
        return self.text + "\n" + "\n".join(_texts(self.blocks))


def _texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["text"]] if isinstance(node.get("text"), str) else []
        return found + [t for key, value in node.items() if key != "text" or
                        not isinstance(value, str) for t in _texts(value)]
    if isinstance(node, list):
        return [t for item in node for t in _texts(item)]
    return []


class BlockKitError(Exception):
    pass


def check_blocks(blocks: Any) -> None:
    """The Block Kit limits Slack enforces with ``invalid_blocks`` that matter here."""
    if not isinstance(blocks, list) or len(blocks) > 50:
        raise BlockKitError("blocks must be a list of at most 50")
    block_ids: set[str] = set()
    for block in blocks:
        if block.get("block_id"):
            if block["block_id"] in block_ids or len(block["block_id"]) > 255:
                raise BlockKitError("duplicate or long block_id")
            block_ids.add(block["block_id"])
        kind = block.get("type")
        if kind == "section" and len(block.get("text", {}).get("text", "")) > 3000:
            raise BlockKitError("section text over 3000")
        if kind == "actions":
            elements = block.get("elements", [])
            action_ids = [e.get("action_id") for e in elements]
            if not elements or len(elements) > 25 or len(set(action_ids)) != len(action_ids):
                raise BlockKitError("actions elements")
            for element in elements:
                if element.get("type") == "button" and len(element["text"]["text"]) > 75:
                    raise BlockKitError("button text over 75")
                for option in element.get("options", []):
                    if len(option["text"]["text"]) > 75 or len(option["value"]) > 150:
                        raise BlockKitError("option too long")
                if element.get("type") == "checkboxes" and len(element["options"]) > 10:
                    raise BlockKitError("more than 10 checkboxes")


class FakeSlack:
    """Records calls; ``wait_for`` wakes up on each one (no sleeping in tests)."""

    def __init__(self, *, bot_token: str = "xoxb-test", app_token: str = "xapp-test",
                 bot_user_id: str = "UBOT", bot_id: str = "BBOT") -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.calls: list[Call] = []
        self.downloads: list[Call] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.files: dict[str, FakeFile] = {}
        self.messages: list[Posted] = []
        self.ephemeral: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home: dict[str, dict[str, Any]] = {}
        self.expired_triggers: set[str] = set()
        self.faults: dict[str, deque[Fault]] = defaultdict(deque)
        self.members: dict[str, list[str]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self.sockets: list[web.WebSocketResponse] = []
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/files-pri/{path:.*}", self._download)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    @property
    def api_url(self) -> str:
        return self.url + "/api/"

    async def stop(self) -> None:
        for socket in self.sockets:
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- test set-up -----------------------------------------------------------------------

    def add_user(self, user_id: str, email: str | None = None, name: str = "ada") -> None:
        self.users[user_id] = {"id": user_id, "name": name, "is_bot": False,
                               "profile": {"email": email, "real_name": name.title(),
                                           "display_name": name}}

    def add_file(self, name: str, data: bytes, mimetype: str = "text/markdown",
                 size: int | None = None, login_page: bool = False) -> dict[str, Any]:
        """Store a file; returns its object as it appears in a ``file_share`` event.

        ``size`` can claim another size than the data's; ``login_page`` makes the
        download answer Slack's HTML sign-in page whatever the token.
        """
        file_id = f"F{next(self._ids):06d}"
        stored = FakeFile(file_id, name, data, mimetype, len(data) if size is None else size,
                          login_page)
        self.files[file_id] = stored
        return stored.as_slack(self.url)

    def fail(self, method: str, status: int = 429, *, retry_after: int | None = 1,
             times: int = 1, error: str | None = None, channel: str | None = None) -> None:
        """The next ``times`` calls of ``method`` fail: 429 with Retry-After, a 5xx, or
        (with ``error``) Slack's ``{"ok": false, "error": ...}``; with ``channel``, only
        the calls for that channel (an outage seen in one place)."""
        for _ in range(times):
            self.faults[method].append(Fault(status=status, retry_after=retry_after,
                                             error=error, channel=channel))

    def add_members(self, channel: str, *users: str) -> None:
        """People in ``channel`` (``conversations.members``)."""
        self.members.setdefault(channel, []).extend(users)

    def slow(self, method: str, seconds: float, times: int = 1) -> None:
        for _ in range(times):
            self.faults[method].append(Fault(delay=seconds))

    # -- looking at what happened ----------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def dm_channel(self, user_id: str) -> str:
        return f"D{user_id}"

    def dms(self, user_id: str) -> list[Posted]:
        """Messages posted in the bot's DM with ``user_id``, oldest first."""
        return [m for m in self.messages if m.channel == self.dm_channel(user_id)]

    def in_channel(self, channel: str) -> list[Posted]:
        """Top-level messages in ``channel`` (not thread replies), oldest first."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts is None]

    def thread(self, channel: str, ts: str) -> list[Posted]:
        """The replies in the thread of message ``ts``, files included, oldest first."""
        return [m for m in self.messages if m.channel == channel and m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> Posted | None:
        return next((m for m in self.messages if m.channel == channel and m.ts == ts), None)

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every call); returns its value."""
        result: list[T] = []

        def check() -> bool:
            value = predicate()
            if value:
                result.append(value)
                return True
            return False

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(check)
        return result[0]

    async def wait_for_dm(self, user_id: str, text: str, after: int = 0,
                          timeout: float = 5.0) -> Posted:
        """The first DM to ``user_id`` (from index ``after``) whose text contains ``text``."""
        return await self.wait_for(lambda: next(
            (m for m in self.dms(user_id)[after:] if text in m.all_text), None), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the Web API -----------------------------------------------------------------------

    async def _arguments(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(parse_qsl(request.query_string))
        body = await request.read()
        if body:
            if request.content_type == "application/json":
                args.update(json.loads(body))
            else:
                args.update(parse_qsl(body.decode()))
        for key in ("blocks", "view", "files", "attachments"):
            value = args.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                args[key] = json.loads(value)
        return args

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await self._arguments(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else args.get("token")
        call = Call(method, args, token)
        self.calls.append(call)
        try:
            fault = next((f for f in self.faults[method] if f.applies(args)), None)
            if fault is not None:
                self.faults[method].remove(fault)
                if fault.delay:
                    await asyncio.sleep(fault.delay)  # the server being slow, not a test wait
                if fault.error:
                    return web.json_response({"ok": False, "error": fault.error})
                if fault.status == 429:
                    call.status = 429
                    headers = {"Retry-After": str(fault.retry_after)} \
                        if fault.retry_after is not None else {}
                    return web.json_response({"ok": False, "error": "ratelimited"},
                                             status=429, headers=headers)
                if fault.status and fault.status >= 500:
                    call.status = fault.status
                    return web.Response(status=fault.status, text="Internal Server Error")
            expected = self.app_token if method == "apps.connections.open" else self.bot_token
            if not token:
                return web.json_response({"ok": False, "error": "not_authed"})
            if token != expected:
                return web.json_response({"ok": False, "error": "invalid_auth"})
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                return web.json_response({"ok": False, "error": "unknown_method"}, status=404)
            try:
                return web.json_response({"ok": True, **await handler(args, request)})
            except _SlackError as error:
                return web.json_response({"ok": False, "error": str(error)})
        finally:
            await self._notify()

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _m_auth_test(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        return {"url": "https://otdi.slack.com/", "team": "OTDI", "user": "otdi-intake",
                "team_id": "T1", "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    async def _m_conversations_open(self, args: dict[str, Any], _: web.Request
                                    ) -> dict[str, Any]:
        users = str(args.get("users", ""))
        if not users:
            raise _SlackError("users_list_not_supplied")
        if users.startswith("B") or users == self.bot_user_id:
            raise _SlackError("cannot_dm_bot")
        return {"channel": {"id": self.dm_channel(users)}}

    def _check_message(self, args: dict[str, Any]) -> list[dict[str, Any]]:
        if not args.get("channel"):
            raise _SlackError("channel_not_found")
        blocks = args.get("blocks") or []
        if not args.get("text") and not blocks:
            raise _SlackError("no_text")
        try:
            check_blocks(blocks)
        except BlockKitError as error:
            raise _SlackError("invalid_blocks") from error
        return blocks

    async def _m_chat_postMessage(self, args: dict[str, Any], _: web.Request  # noqa: N802
                                  ) -> dict[str, Any]:
        blocks = self._check_message(args)
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            metadata = json.loads(metadata)
        posted = Posted(args["channel"], self._next_ts(), args.get("text", ""), blocks,
                        args.get("thread_ts"), metadata=metadata)
        self.messages.append(posted)
        return {"channel": posted.channel, "ts": posted.ts,
                "message": {"type": "message", "text": posted.text, "blocks": blocks,
                            "user": self.bot_user_id, "bot_id": self.bot_id, "ts": posted.ts}}

    async def _m_chat_update(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        blocks = self._check_message(args)
        posted = self.message(args["channel"], str(args.get("ts")))
        if posted is None:
            raise _SlackError("message_not_found")
        posted.text, posted.blocks = args.get("text", posted.text), blocks
        posted.updates += 1
        return {"channel": posted.channel, "ts": posted.ts, "text": posted.text}

    async def _m_chat_postEphemeral(self, args: dict[str, Any], _: web.Request  # noqa: N802
                                    ) -> dict[str, Any]:
        self._check_message(args)
        self.ephemeral.append(args)
        return {"message_ts": self._next_ts()}

    async def _m_users_info(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        user = self.users.get(str(args.get("user")))
        if user is None:
            raise _SlackError("user_not_found")
        return {"user": user}

    async def _m_files_info(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        stored = self.files.get(str(args.get("file")))
        if stored is None:
            raise _SlackError("file_not_found")
        return {"file": stored.as_slack(self.url)}

    async def _m_views_open(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        trigger = str(args.get("trigger_id", ""))
        if not trigger or trigger in self.expired_triggers:
            raise _SlackError("expired_trigger_id")
        view = dict(args["view"])
        view_id = f"V{next(self._ids):06d}"
        view.update({"id": view_id, "hash": f"h{view_id}", "state": {"values": {}}})
        self.views[view_id] = view
        return {"view": view}

    async def _m_views_update(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        view_id = str(args.get("view_id"))
        if view_id not in self.views:
            raise _SlackError("not_found")
        self.views[view_id].update(args["view"])
        return {"view": self.views[view_id]}

    async def _m_views_publish(self, args: dict[str, Any], _: web.Request) -> dict[str, Any]:
        view = args.get("view") or {}
        if view.get("type") != "home":
            raise _SlackError("invalid_arguments")
        try:
            check_blocks(view.get("blocks", []))
        except BlockKitError as error:
            raise _SlackError("invalid_blocks") from error
        self.home[str(args.get("user_id"))] = view
        return {"view": {"id": f"V{next(self._ids):06d}", **view}}

    async def _m_apps_connections_open(self, args: dict[str, Any], request: web.Request
                                       ) -> dict[str, Any]:
        return {"url": self.url.replace("http://", "ws://") + "/socket"}

    async def _m_files_getUploadURLExternal(self, args: dict[str, Any],  # noqa: N802
                                            _: web.Request) -> dict[str, Any]:
        file_id = f"F{next(self._ids):06d}"
        self.files[file_id] = FakeFile(file_id, str(args.get("filename", "file")), b"",
                                       "text/plain", int(args.get("length", 0)))
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    async def _m_files_completeUploadExternal(self, args: dict[str, Any],  # noqa: N802
                                              _: web.Request) -> dict[str, Any]:
        files = args.get("files") or []
        done = []
        for item in files:
            stored = self.files.get(item.get("id"))
            if stored is None:
                raise _SlackError("file_not_found")
            done.append({"id": stored.id, "title": item.get("title") or stored.name})
        channel = args.get("channel_id")
        if channel:  # shared: a message with the files appears in the channel (or thread)
            self.messages.append(Posted(str(channel), self._next_ts(),
                                        str(args.get("initial_comment") or ""), [],
                                        args.get("thread_ts") or None,
                                        files=[d["id"] for d in done]))
        return {"files": done}

    async def _m_conversations_history(self, args: dict[str, Any], _: web.Request
                                       ) -> dict[str, Any]:
        """A channel's top-level messages, newest first (metadata with include_all_metadata)."""
        channel = str(args.get("channel", ""))
        limit = int(args.get("limit") or 100)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [m for m in reversed(self.messages) if m.channel == channel
                 and m.thread_ts is None][:limit]
        return {"messages": [{"type": "message", "ts": m.ts, "text": m.text,
                              **({"metadata": m.metadata} if with_metadata and m.metadata
                                 else {})} for m in found], "has_more": False}

    async def _m_conversations_replies(self, args: dict[str, Any], _: web.Request
                                       ) -> dict[str, Any]:
        """A thread's messages, oldest first, the parent included (as Slack answers)."""
        channel, parent = str(args.get("channel", "")), str(args.get("ts", ""))
        limit = int(args.get("limit") or 100)
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        found = [m for m in self.messages if m.channel == channel
                 and (m.ts == parent or m.thread_ts == parent)][:limit]
        return {"messages": [{"type": "message", "ts": m.ts, "text": m.text,
                              "thread_ts": m.thread_ts or m.ts,
                              **({"metadata": m.metadata} if with_metadata and m.metadata
                                 else {})} for m in found], "has_more": False}

    async def _m_conversations_members(self, args: dict[str, Any], _: web.Request
                                       ) -> dict[str, Any]:
        """Members in pages of ``limit`` (cursor = the next offset), as Slack paginates."""
        channel = str(args.get("channel", ""))
        if channel not in self.members:
            raise _SlackError("channel_not_found")
        start, limit = int(args.get("cursor") or 0), int(args.get("limit") or 100)
        members = self.members[channel]
        more = start + limit < len(members)
        return {"members": members[start:start + limit],
                "response_metadata": {"next_cursor": str(start + limit) if more else ""}}

    # -- files and the socket ---------------------------------------------------------------

    async def _download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        file_id = path.split("/", 1)[0].removeprefix("T1-")
        auth = request.headers.get("Authorization", "")
        call = Call("files.download", {"file": file_id}, auth.removeprefix("Bearer ") or None)
        self.downloads.append(call)
        try:
            fault = self.faults["files.download"].popleft() \
                if self.faults["files.download"] else None
            if fault is not None and fault.status:
                call.status = fault.status
                return web.Response(status=fault.status, text="error")
            stored = self.files.get(file_id)
            if auth != f"Bearer {self.bot_token}" or (stored and stored.login_page):
                return web.Response(text=LOGIN_PAGE, content_type="text/html")
            if stored is None:
                return web.Response(status=404, text="not found")
            return web.Response(body=stored.data, content_type=stored.mimetype)
        finally:
            await self._notify()

    async def _upload(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        if stored is None:
            return web.Response(status=404)
        stored.data = await request.read()
        stored.size = len(stored.data)
        return web.Response(text="OK - " + str(stored.size))

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": 1,
                                "connection_info": {"app_id": "A1"}})
        await self._notify()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
                await self._notify()
        return socket

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Push a Socket Mode envelope to the connected app."""
        await self.wait_for(lambda: self.sockets)
        await self.sockets[-1].send_json(envelope)


class _SlackError(Exception):
    """An ``{"ok": false, "error": ...}`` answer."""
