"""The app manifest an operator pastes matches what the code listens to."""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.app import COMMAND, SHORTCUT
from core.runtime import available_adapters

MANIFEST = Path(__file__).resolve().parents[2] / "slack" / "manifest.yml"


def test_the_manifest_declares_what_the_app_uses() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    settings, features = manifest["settings"], manifest["features"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "message.im", "message.channels", "message.groups", "app_mention", "app_home_opened"}
    assert [c["command"] for c in features["slash_commands"]] == [COMMAND]
    assert [s["callback_id"] for s in features["shortcuts"]] == [SHORTCUT]
    urls = [settings["event_subscriptions"]["request_url"],
            settings["interactivity"]["request_url"], features["slash_commands"][0]["url"]]
    assert all(url.endswith("/slack/events") for url in urls)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"chat:write", "im:history", "im:write", "files:read", "users:read.email",
            "commands", "app_mentions:read"} <= scopes
    # The review threads: replies, the card as a file, who the reviewers are.
    assert {"channels:history", "channels:read", "groups:history", "groups:read",
            "files:write", "users:read"} <= scopes
    assert features["app_home"]["home_tab_enabled"]
    assert not features["app_home"]["messages_tab_read_only_enabled"]


def test_the_web_adapter_is_found_by_its_entry_point() -> None:
    factory = available_adapters()["web"]
    adapter = (factory.load() if hasattr(factory, "load") else factory)()
    assert adapter.name == "web"
