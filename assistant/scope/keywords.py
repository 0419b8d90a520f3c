"""Blocks that a keyword opens and an `end` line closes (Ruby, Lua, Elixir, Julia): a header line
starts with a block keyword (`def`, `class`, `if`, `while`, `function`, …) or ends with one that
opens a body (`do`, `then`, a block's `do |x|`). Read from the lines, comments (`#`, `--`) removed;
the body ends at the line that comes back to the header's indentation, the `end`."""

from __future__ import annotations

import re

from .base import code_lines_before, indent

_OPENING_HEADS = frozenset(
    {
        "def",
        "class",
        "module",
        "if",
        "unless",
        "while",
        "until",
        "for",
        "case",
        "begin",
        "function",
        "local function",
        "defmodule",
        "defp",
        "struct",
        "let",
        "macro",
    }
)
_OPENING_TAILS = re.compile(r"(\bdo(\s*\|[^|]*\|)?|\bthen|->)$")
_COMMENT = re.compile(r"\s*(#|--).*$")


class KeywordBlocks:
    def header_indent(self, text: str, cursor: int, on_header: bool, language: str) -> int | None:
        lines = code_lines_before(text, cursor, on_header)
        if not lines:
            return None
        header = _COMMENT.sub("", lines[-1]).rstrip()
        words = header.split()
        head = " ".join(words[:2]) if words[:1] == ["local"] else (words[0] if words else "")
        opens = (head in _OPENING_HEADS and not header.endswith(" end")) or bool(_OPENING_TAILS.search(header))
        return indent(lines[-1]) if opens else None
