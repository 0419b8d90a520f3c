"""Any other text, read by brackets and indentation: a line ending with an opening bracket opens a
block, which ends at the line that comes back to that line's indentation (where its closing
bracket usually stands)."""

from __future__ import annotations

from .base import code_lines_before, statement_indent


class TextBlocks:
    def header_indent(self, text: str, cursor: int, on_header: bool, language: str) -> int | None:
        lines = code_lines_before(text, cursor, on_header)
        if not lines or not lines[-1].rstrip().endswith(("{", "[", "(")):
            return None
        return statement_indent(lines)
