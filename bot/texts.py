"""The templates the Slack adapter renders itself (labels, notes, the home tab, the form).

A thin layer over ``core.render.Renderer`` so builders ask for ``texts.label("continue")``
instead of knowing template names and flavours.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from core.render import Renderer


class Texts:
    """Slack-flavoured rendering: every interpolated value escaped (``&``, ``<``, ``>``)."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self._label = lru_cache(maxsize=64)(self._render_label)

    def _render_label(self, key: str) -> str:
        return self.renderer.render("label", {"key": key}, "slack")

    def label(self, key: str) -> str:
        """A short interface label (button, heading, placeholder)."""
        return self._label(key)

    def render(self, name: str, **context: Any) -> str:
        """A Slack template (``templates/slack/NAME.j2``, else ``templates/text/``) as mrkdwn."""
        return self.renderer.render(name, context, "slack")

    def plain(self, name: str, **context: Any) -> str:
        """A ``templates/text`` template unescaped, for Slack's plain-text places (form errors)."""
        return self.renderer.render(name, context, "text")
