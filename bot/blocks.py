"""Block Kit builders: a core reply as a message, a clicked question as an answered one.

The core's ``choices`` become elements by shape, not by field name: several answers ->
checkboxes and a Continue button; more than five options -> a menu; otherwise buttons.
Each question's actions block is named ``otdi:<outbox id>:<field>`` so a click says
which question (and which message) it answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.texts import Texts

BLOCK_PREFIX = "otdi"
BUTTON_ACTION = "otdi_choice"  # followed by _<index>: action ids are unique per block
SELECT_ACTION = "otdi_select"
MULTI_ACTION = "otdi_multi"
MULTI_DONE_ACTION = "otdi_multi_done"
OPEN_FORM_ACTION = "otdi_open_form"
SECTION_LIMIT = 3000
TEXT_LIMIT = 3900
MAX_BUTTONS = 5
MAX_CHECKBOXES = 10
PRIMARY = {("confirm", "yes"), ("consent", "yes"), ("domain_suggestion", "yes")}


@dataclass(frozen=True)
class QuestionId:
    """Which message asked which field, decoded from an actions block's ``block_id``."""

    outbox_id: int
    field: str

    @property
    def block_id(self) -> str:
        return f"{BLOCK_PREFIX}:{self.outbox_id}:{self.field}"

    @classmethod
    def parse(cls, block_id: str | None) -> QuestionId | None:
        parts = (block_id or "").split(":")
        if len(parts) != 3 or parts[0] != BLOCK_PREFIX or not parts[1].isdigit():
            return None
        return cls(int(parts[1]), parts[2])


def plain(text: str, limit: int = 75) -> dict[str, Any]:
    """A plain_text object; Slack never parses mentions or links in it."""
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return {"type": "plain_text", "text": text or "-", "emoji": True}


def option(value: str, label: str) -> dict[str, Any]:
    return {"text": plain(label), "value": value[:150]}


def sections(text: str) -> list[dict[str, Any]]:
    """mrkdwn section blocks, split at paragraph (else line) breaks under Slack's limit."""
    blocks: list[dict[str, Any]] = []
    for chunk in split_text(text, SECTION_LIMIT):
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return blocks


def split_text(text: str, limit: int) -> list[str]:
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        cut = cut if cut > 0 else rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def context_block(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]}


def choice_block(choices: dict[str, Any], question: QuestionId, texts: Texts) -> dict[str, Any]:
    """The actions block offering ``choices`` (the core's ChoiceSet as a dict)."""
    options = [(o["value"], o["label"]) for o in choices.get("options", [])]
    elements: list[dict[str, Any]]
    if choices.get("multiple"):
        picker: dict[str, Any]
        if len(options) <= MAX_CHECKBOXES:
            picker = {"type": "checkboxes", "action_id": MULTI_ACTION,
                      "options": [option(v, label) for v, label in options]}
        else:
            picker = {"type": "multi_static_select", "action_id": MULTI_ACTION,
                      "placeholder": plain(texts.label("pick_some")),
                      "options": [option(v, label) for v, label in options[:100]]}
        done = {"type": "button", "action_id": MULTI_DONE_ACTION, "style": "primary",
                "text": plain(texts.label("continue")), "value": "done"}
        elements = [picker, done]
    elif len(options) > MAX_BUTTONS:
        elements = [{"type": "static_select", "action_id": SELECT_ACTION,
                     "placeholder": plain(texts.label("pick_one")),
                     "options": [option(v, label) for v, label in options[:100]]}]
    else:
        elements = []
        for index, (value, label) in enumerate(options):
            button: dict[str, Any] = {"type": "button", "action_id": f"{BUTTON_ACTION}_{index}",
                                      "text": plain(label), "value": value[:2000]}
            if (question.field, value) in PRIMARY:
                button["style"] = "primary"
            elements.append(button)
    return {"type": "actions", "block_id": question.block_id, "elements": elements}


def reply_message(text: str, choices: dict[str, Any] | None, outbox_id: int, texts: Texts,
                  reference: str | None = None) -> dict[str, Any]:
    """``chat.postMessage`` arguments (text and blocks) for one stored core reply."""
    blocks = sections(text)
    if choices and choices.get("options"):
        question = QuestionId(outbox_id, choices["field"])
        blocks.append(choice_block(choices, question, texts))
    if reference:
        blocks.append(context_block(texts.render("reference", reference=reference)))
    return {"text": text[:TEXT_LIMIT] or "-", "blocks": blocks[:50]}


def answered_blocks(blocks: list[dict[str, Any]], block_id: str,
                    note: str) -> list[dict[str, Any]]:
    """The message's blocks with the question's actions replaced by a note (what was chosen)."""
    kept = [b for b in blocks if b.get("block_id") != block_id and b.get("type") != "actions"]
    position = len(kept)
    if kept and kept[-1].get("type") == "context":
        position -= 1  # keep the reference line last
    kept.insert(position, context_block(note))
    return kept


def chosen_labels(action: dict[str, Any], selected: list[dict[str, Any]]) -> list[str]:
    """What the person picked, as the labels they saw (buttons, menu, checkboxes)."""
    if selected:
        return [o.get("text", {}).get("text", o.get("value", "")) for o in selected]
    if action.get("selected_option"):
        option_ = action["selected_option"]
        return [option_.get("text", {}).get("text", option_.get("value", ""))]
    return [action.get("text", {}).get("text", action.get("value", ""))]
