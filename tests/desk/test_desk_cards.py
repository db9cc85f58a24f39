"""A contributor's card in the reviewer's browser: Markdown, never the card's own HTML."""

from __future__ import annotations

from desk.cards import render_card, split_front_matter

HOSTILE = b"""---
pretty_name: Ocean <b>Temperatures</b>
---
# Ocean

<script>alert("card")</script>
<img src=x onerror="alert(1)">

[click](javascript:alert(1)) and [fine](https://example.org/ocean)

| a | b |
|---|---|
| 1 | 2 |
"""


def test_raw_html_and_script_links_come_out_as_text() -> None:
    card = render_card(HOSTILE)
    assert "<script" not in card.html and "<img" not in card.html
    assert "&lt;script&gt;alert(&quot;card&quot;)&lt;/script&gt;" in card.html
    assert "javascript:" not in card.html.replace("[click](javascript:alert(1))", "")
    assert 'href="javascript' not in card.html
    assert '<a href="https://example.org/ocean">fine</a>' in card.html
    assert "<h1>Ocean</h1>" in card.html and "<table>" in card.html
    assert card.front_matter == "pretty_name: Ocean <b>Temperatures</b>\n"  # escaped by the page


def test_front_matter_only_when_the_card_opens_with_it() -> None:
    assert split_front_matter("# Title\n---\nx\n") == ("", "# Title\n---\nx\n")
    assert split_front_matter("---\na: 1\n") == ("", "---\na: 1\n")  # never closed
    assert render_card(b"\xff# broken bytes").html.startswith("<p>\ufffd")
