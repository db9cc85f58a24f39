"""Find and parse a card's YAML front matter the way the Hugging Face Hub does, safely.

The block is located with a copy of ``huggingface_hub.repocard.REGEX_YAML_BLOCK``, which
the library keeps identical to the Hub server's (copied, because importing
``huggingface_hub`` costs a fifth of a second; a test checks the copy still matches).
A block that is still the template's ``{{ card_data }}`` is a template leftover, not
broken YAML. It is parsed with PyYAML's SafeLoader
(what ``huggingface_hub`` uses via ``yaml.safe_load``) extended with limits on
size, nesting depth, alias count and expanded size, so a "billion laughs" document
is refused while it is being composed, long before it could be expanded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from core.cards.findings import Finding, error, shorten, warning
from core.cards.leftovers import find_leftovers, kept_braces_lines, strip_leftovers

# huggingface_hub.repocard.REGEX_YAML_BLOCK (huggingface_hub 0.23 to 1.x), copied verbatim.
REGEX_YAML_BLOCK = re.compile(
    r"^(\s*---(?:\r\n|\r|\n))([\S\s]*?)((?:\r\n|\r|\n)---[ \t]*(\r\n|\n|$))")

MAX_FRONT_MATTER_CHARS = 512 * 1024
MAX_DEPTH = 50
MAX_ALIASES = 200
MAX_EXPANDED_NODES = 250_000

_LEADING_COMMENTS = re.compile(r"\A(?:\s*<!--[\s\S]*?-->)+")
_EMPTY_BLOCK = re.compile(r"\A\s*---[ \t]*\n---[ \t]*(?:\n|\Z)")
_OPENING = re.compile(r"\A\s*---[ \t]*\n")
_SPACED_OPENING = re.compile(r"\A(\s*---)[ \t]+(?=\n)")


class YamlLimitError(Exception):
    """The YAML is refused before it is built (too deep, too many aliases...)."""

    def __init__(self, code: str, limit: int, line: int) -> None:
        super().__init__(code)
        self.code, self.limit, self.line = code, limit, line


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts depth, aliases and expanded size while composing."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}
        self.duplicates: list[tuple[str, int]] = []

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        line = self.peek_event().start_mark.line
        if self.check_event(AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlLimitError("yaml_too_many_aliases", MAX_ALIASES, line)
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise YamlLimitError("yaml_recursive_alias", 0, line)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError("yaml_too_deep", MAX_DEPTH, line)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        size = 1 + sum(self._sizes.get(id(child), 1) for child in _children(node))
        if size > MAX_EXPANDED_NODES:
            raise YamlLimitError("yaml_too_large_expanded", MAX_EXPANDED_NODES, line)
        self._sizes[id(node)] = size
        if isinstance(node, MappingNode):
            self._note_duplicates(node)
        return node

    def _note_duplicates(self, node: MappingNode) -> None:
        seen: set[str] = set()
        for key, _value in node.value:
            if isinstance(key, ScalarNode):
                if key.value in seen and key.value != "<<":
                    self.duplicates.append((key.value, key.start_mark.line))
                seen.add(key.value)


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []


@dataclass
class FrontMatter:
    """What the front matter gave: data (or None), the Markdown body, findings."""

    found: bool
    data: dict[str, Any] | None
    body: str
    body_line: int
    findings: list[Finding] = field(default_factory=list)


def _line_at(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def split_front_matter(text: str) -> FrontMatter:
    """Split ``text`` (``\\n`` line endings) into front matter and body, and parse it."""
    match = REGEX_YAML_BLOCK.search(text)
    findings: list[Finding] = []
    if match is None:
        comments = _LEADING_COMMENTS.match(text)
        if comments and (after := REGEX_YAML_BLOCK.search(text[comments.end():])):
            findings.append(warning("front_matter", "front_matter_after_comment",
                                    line=_line_at(text, comments.end() + after.start(2)) - 1))
            offset = comments.end()
            return _parse(text, offset + after.start(2), offset + after.end(2),
                          offset + after.end(), findings)
    if match is None and (spaced := _SPACED_OPENING.match(text)):
        fixed = text[:spaced.end(1)] + text[spaced.end():]
        if again := REGEX_YAML_BLOCK.search(fixed):
            findings.append(error("front_matter", "front_matter_opening_spaces",
                                  line=_line_at(text, spaced.end(1))))
            return _parse(fixed, again.start(2), again.end(2), again.end(), findings)
    if match is None:
        empty = _EMPTY_BLOCK.match(text)
        if empty:
            return FrontMatter(True, {}, text[empty.end():], _line_at(text, empty.end()))
        if _OPENING.match(text):
            return FrontMatter(False, None, text, 1,
                               [error("front_matter", "front_matter_unterminated", line=1)])
        return FrontMatter(False, None, text, 1, [])
    return _parse(text, match.start(2), match.end(2), match.end(), findings)


def _parse(text: str, start: int, end: int, body_start: int,
           findings: list[Finding]) -> FrontMatter:
    block = text[start:end]
    first_line = _line_at(text, start)
    body = text[body_start:]
    body_line = _line_at(text, body_start) if body_start < len(text) else _line_at(text, len(text))
    if len(block) > MAX_FRONT_MATTER_CHARS:
        findings.append(error("front_matter", "front_matter_too_big", size=len(block),
                              limit=MAX_FRONT_MATTER_CHARS))
        return FrontMatter(True, None, body, body_line, findings)
    leftovers = find_leftovers(block, guidance=False)
    if leftovers and not strip_leftovers(block, guidance=False).strip():
        findings.append(error("front_matter", "front_matter_placeholder",
                              placeholder=leftovers[0], line=first_line))
        return FrontMatter(True, None, body, body_line, findings)
    data, yaml_findings = load_yaml(block, first_line)
    if data is None and leftovers:
        yaml_findings = [error("front_matter", "front_matter_placeholder",
                               placeholder=leftovers[0], line=first_line,
                               kept=kept_braces_lines(block))]
    findings.extend(yaml_findings)
    return FrontMatter(True, data, body, body_line, findings)


def load_yaml(block: str, first_line: int = 1) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Parse a front-matter block; None as data when it can't be used."""
    try:
        data, duplicates = _safe_load_limited(block)
        findings: list[Finding] = []
    except YamlLimitError as exc:
        return None, [error("front_matter", exc.code, limit=exc.limit, line=first_line + exc.line)]
    except yaml.YAMLError as exc:
        if "\t" in block and _is_tab_error(exc):
            try:
                data, duplicates = _safe_load_limited(block.replace("\t", "  "))
            except (yaml.YAMLError, YamlLimitError):
                return None, [_syntax_finding(block, exc, first_line)]
            findings = [error("front_matter", "yaml_tabs", line=first_line + _mark_line(exc))]
        else:
            return None, [_syntax_finding(block, exc, first_line)]
    for key, line in duplicates:
        findings.append(error("front_matter", "yaml_duplicate_key", key=shorten(key, 60),
                              line=first_line + line))
    if data is None:
        return {}, findings
    if not isinstance(data, dict):
        findings.append(error("front_matter", "front_matter_not_mapping",
                              kind=_kind_of(data)))
        return None, findings
    return data, findings


def _safe_load_limited(block: str) -> tuple[Any, list[tuple[str, int]]]:
    loader = _LimitedLoader(block)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
        return data, loader.duplicates
    finally:
        loader.dispose()


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "text"
    return "value"


def _mark_line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return mark.line if mark is not None else 0


def _is_tab_error(exc: yaml.YAMLError) -> bool:
    return "'\\t'" in str(getattr(exc, "problem", "") or "")


def _syntax_finding(block: str, exc: yaml.YAMLError, first_line: int) -> Finding:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line if mark is not None else 0
    column = (mark.column + 1) if mark is not None else 1
    lines = block.split("\n")
    snippet = lines[line] if 0 <= line < len(lines) else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return error("front_matter", "yaml_syntax", line=first_line + line, column=column,
                 problem=shorten(problem, 120), snippet=shorten(snippet, 100))
