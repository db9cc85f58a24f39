"""Fixtures for the card-check tests: card texts and a local HTTPS server with a test CA."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from typing import Any

import pytest
import trustme
from aiohttp import web

from tests.cards.card_server import CardServer
from tests.cards.card_texts import render_template, valid_card


@pytest.fixture
def card() -> str:
    """A complete OTDI card built from the template, leading comment removed."""
    return valid_card()


@pytest.fixture
def template_card() -> str:
    """The OTDI template filled in, as the site ships it (leading comment kept)."""
    return render_template()


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def client_ssl(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.fixture
async def card_server(ca: trustme.CA) -> AsyncIterator[CardServer]:
    """An aiohttp HTTPS server on 127.0.0.1, port 0, serving cards and misbehaving."""
    cert = ca.issue_cert("127.0.0.1", "localhost", "huggingface.co",
                         "raw.githubusercontent.com", "cards.example.org")
    server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ssl)
    body = valid_card().encode()
    app = web.Application()
    server = CardServer(0, app)

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        server.requests.append(f"{request.host.split(':')[0]}{request.path}")
        return await handler(request)

    app.middlewares.append(record)

    async def card(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/markdown")

    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * 5000, content_type="text/plain")

    async def big_chunked(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    async def to_http(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{server.port}/card.md")

    async def to_https(request: web.Request) -> web.Response:
        raise web.HTTPFound("/card.md")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def slow(request: web.Request) -> web.Response:
        await server.release.wait()
        return web.Response(text="late")

    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>a page</body></html>", content_type="text/html")

    async def plain_named(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/plain")

    app.router.add_get("/card.md", card)
    app.router.add_get("/big.md", big)
    app.router.add_get("/chunked.md", big_chunked)
    app.router.add_get("/to-http", to_http)
    app.router.add_get("/to-https", to_https)
    app.router.add_get("/loop", loop)
    app.router.add_get("/slow.md", slow)
    app.router.add_get("/page", html)
    app.router.add_get("/card", plain_named)
    app.router.add_get("/datasets/{org}/{name}/raw/{rev}/{path:.*}", card)
    app.router.add_get("/{org}/{repo}/{ref}/{path:.*}", card)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    server.port = runner.addresses[0][1]
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()
