"""What a scope is, the rules a language family gives for it, and the reading of code they share."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Protocol

import tree_sitter


class ScopeKind(Enum):
    LINE = "line"
    BLOCK = "block"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    line_prefix: str  # the cursor's line, up to the cursor
    line_suffix: str  # the cursor's line, after the cursor
    header_indent: int = 0  # BLOCK: columns of the header line's indentation
    next_line: str = ""  # the first non-blank line after the cursor's line (what must not be repeated)
    closer: str = ""  # LINE inside a string or comment that the line closes: its closing delimiter
    family: str = "python"  # the language's block family (assistant/languages/)


class BlockRules(Protocol):
    """One language family's reading of "the cursor opens a block"."""

    def header_indent(self, text: str, cursor: int, on_header: bool, language: str) -> int | None:
        """Indentation of the header whose block the cursor opens, or None when it opens none.
        `on_header`: the cursor ends a non-blank line (else it is on a blank line); `language`:
        the document's language id, for its grammar."""
        ...


def indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def last_leaf_before(root: tree_sitter.Node, end_byte: int) -> tree_sitter.Node | None:
    """The last token ending at or before `end_byte`, skipping comments."""
    node = root.descendant_for_byte_range(max(end_byte - 1, 0), end_byte)
    while node is not None and ("comment" in node.type or node.end_byte > end_byte or node.child_count):
        if node.child_count and node.end_byte <= end_byte:
            node = node.children[-1]
            continue
        while node is not None and node.prev_sibling is None:
            node = node.parent
        node = node.prev_sibling if node is not None else None
    return node


def statement_indent(lines: list[str]) -> int:
    """Indentation of the statement whose last line is `lines[-1]`: a signature broken over lines
    (more `)` than `(` on its last line) starts where its parentheses balance."""
    depth, i = 0, len(lines) - 1
    while True:
        depth += lines[i].count(")") - lines[i].count("(")
        if depth <= 0 or i == 0:
            return indent(lines[i])
        i -= 1


def code_lines_before(text: str, cursor: int, on_header: bool) -> list[str]:
    """The non-blank lines before the cursor's (and the cursor's own line up to it, when it ends a
    header), for the families read by lines."""
    line_start = text.rfind("\n", 0, cursor) + 1
    lines = text[:line_start].split("\n")[:-1]
    if on_header:
        lines.append(text[line_start:cursor])
    return [line for line in lines if line.strip()]
