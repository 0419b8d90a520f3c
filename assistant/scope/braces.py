"""Blocks of braces (C, Java, JavaScript, TypeScript, Go, Rust, …): a `{` ending the line before
the cursor opens a block, and the line of its `}` (which the file already has, or the user types)
ends it.

With the language's grammar the `{` must be a token, not one inside a string or a comment, and a
comment between it and the cursor does not hide it; where the statement starts is read from the
lines either way, since code being typed parses into error nodes that hide the statement.
Without a grammar, the lines alone decide.
"""

from __future__ import annotations

from ..languages.grammars import parser_for
from .base import code_lines_before, last_leaf_before, statement_indent


class BraceBlocks:
    def header_indent(self, text: str, cursor: int, on_header: bool, language: str) -> int | None:
        parser = parser_for(language)
        if parser is None:
            lines = code_lines_before(text, cursor, on_header)
            return statement_indent(lines) if lines and lines[-1].rstrip().endswith("{") else None
        tree = parser.parse(text.encode("utf-8"))
        leaf = last_leaf_before(tree.root_node, len(text[:cursor].rstrip().encode("utf-8")))
        if leaf is None or leaf.type != "{":
            return None
        lines = text.split("\n")[: leaf.start_point[0] + 1]
        return statement_indent([line for line in lines if line.strip()])
