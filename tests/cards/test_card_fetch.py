"""Fetching a card over https from a local test server (trustme CA, 127.0.0.1:0)."""

from __future__ import annotations

import ssl

import pytest

from core.cards import CardFetchError, card_url_for_location, check_card, fetch_card
from tests.cards.card_server import CardServer


async def test_fetches_a_card_over_https(card_server: CardServer, client_ssl: ssl.SSLContext,
                                         card: str) -> None:
    fetched = await fetch_card(card_server.url("/card.md"), ssl_context=client_ssl,
                               allow_private=True)
    assert fetched.data == card.encode()
    assert fetched.filename == "card.md"
    assert fetched.url == card_server.url("/card.md")
    assert check_card(fetched.data, fetched.filename).verdict == "passes"


async def test_follows_https_redirects(card_server: CardServer,
                                       client_ssl: ssl.SSLContext) -> None:
    fetched = await fetch_card(card_server.url("/to-https"), ssl_context=client_ssl,
                               allow_private=True)
    assert fetched.url == card_server.url("/card.md")
    assert card_server.requests == ["127.0.0.1/to-https", "127.0.0.1/card.md"]


async def test_plain_text_without_extension_gets_one(card_server: CardServer,
                                                     client_ssl: ssl.SSLContext) -> None:
    fetched = await fetch_card(card_server.url("/card"), ssl_context=client_ssl,
                               allow_private=True)
    assert fetched.filename == "card.txt"


async def test_refuses_plain_http() -> None:
    with pytest.raises(CardFetchError) as caught:
        await fetch_card("http://example.org/README.md")
    assert caught.value.code == "not_https"
    assert "https://" in caught.value.message and "http://example.org" in str(caught.value)


@pytest.mark.parametrize(("path", "code"), [
    ("/to-http", "redirect_not_https"),
    ("/loop", "too_many_redirects"),
    ("/big.md", "too_big"),
    ("/chunked.md", "too_big"),
    ("/missing.md", "http_error"),
    ("/page", "html_page"),
])
async def test_refusals(card_server: CardServer, client_ssl: ssl.SSLContext,
                        path: str, code: str) -> None:
    with pytest.raises(CardFetchError) as caught:
        await fetch_card(card_server.url(path), ssl_context=client_ssl, max_bytes=4096,
                         allow_private=True)
    assert caught.value.code == code
    assert caught.value.message


async def test_redirect_to_http_is_not_followed(card_server: CardServer,
                                                client_ssl: ssl.SSLContext) -> None:
    with pytest.raises(CardFetchError):
        await fetch_card(card_server.url("/to-http"), ssl_context=client_ssl,
                         allow_private=True)
    assert card_server.requests == ["127.0.0.1/to-http"]


async def test_times_out(card_server: CardServer, client_ssl: ssl.SSLContext) -> None:
    with pytest.raises(CardFetchError) as caught:
        await fetch_card(card_server.url("/slow.md"), ssl_context=client_ssl, timeout=0.3,
                         allow_private=True)
    assert caught.value.code == "timeout"
    assert "0.3 seconds" in caught.value.message


async def test_untrusted_certificate_is_refused(card_server: CardServer) -> None:
    with pytest.raises(CardFetchError) as caught:
        await fetch_card(card_server.url("/card.md"), allow_private=True)
    assert caught.value.code == "tls"


async def test_private_addresses_are_refused_by_default(card_server: CardServer,
                                                        client_ssl: ssl.SSLContext) -> None:
    with pytest.raises(CardFetchError) as literal:
        await fetch_card(card_server.url("/card.md"), ssl_context=client_ssl)
    assert literal.value.code == "private_address"
    with pytest.raises(CardFetchError) as resolved:
        await fetch_card("https://cards.example.org/card.md", ssl_context=client_ssl,
                         resolver=card_server.resolver())
    assert resolved.value.code == "private_address"
    assert card_server.requests == []


@pytest.mark.parametrize("url", [
    "https://huggingface.co/datasets/ORG/NAME",
    "https://huggingface.co/datasets/ORG/NAME/",
    "https://huggingface.co/datasets/ORG/NAME/tree/main",
    "https://huggingface.co/datasets/ORG/NAME/blob/main/README.md",
    "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md",
])
async def test_hugging_face_dataset_urls_fetch_the_raw_readme(
        card_server: CardServer, client_ssl: ssl.SSLContext, url: str) -> None:
    fetched = await fetch_card(url, ssl_context=client_ssl, resolver=card_server.resolver(),
                               allow_private=True)
    assert card_server.requests == ["huggingface.co/datasets/ORG/NAME/raw/main/README.md"]
    assert fetched.url == "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md"
    assert fetched.filename == "README.md"


async def test_github_file_page_fetches_the_raw_file(card_server: CardServer,
                                                     client_ssl: ssl.SSLContext) -> None:
    await fetch_card("https://github.com/org/repo/blob/main/CARD.md", ssl_context=client_ssl,
                     resolver=card_server.resolver(), allow_private=True)
    assert card_server.requests == ["raw.githubusercontent.com/org/repo/main/CARD.md"]


@pytest.mark.parametrize(("location", "expected"), [
    ("https://huggingface.co/datasets/ORG/NAME",
     "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md"),
    ("https://huggingface.co/datasets/ORG/NAME/tree/main",
     "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md"),
    ("https://huggingface.co/datasets/ORG/NAME/blob/main/data/train.csv",
     "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md"),
    ("https://hf.co/datasets/ORG/NAME", "https://huggingface.co/datasets/ORG/NAME/raw/main/README.md"),
    ("https://github.com/ORG/REPO", "https://raw.githubusercontent.com/ORG/REPO/HEAD/README.md"),
    ("https://github.com/ORG/REPO.git", "https://raw.githubusercontent.com/ORG/REPO/HEAD/README.md"),
    ("https://github.com/ORG/REPO/tree/dev/data",
     "https://raw.githubusercontent.com/ORG/REPO/dev/data/README.md"),
    ("https://example.org/data.zip", None),
    ("https://huggingface.co/ORG/a-model", None),
    ("http://huggingface.co/datasets/ORG/NAME", None),
    ("not a url", None),
])
def test_card_url_for_location(location: str, expected: str | None) -> None:
    assert card_url_for_location(location) == expected
