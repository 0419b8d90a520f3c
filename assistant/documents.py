"""Positions in a document: character offsets and 0-based (line, column) pairs, checked."""

from __future__ import annotations

from .errors import GuidecodeError

Cursor = int | tuple[int, int]  # an offset, or (line, column), both 0-based, columns in characters


class PositionError(GuidecodeError):
    pass


def to_offset(text: str, cursor: Cursor) -> int:
    if isinstance(cursor, int):
        if not 0 <= cursor <= len(text):
            raise PositionError(f"offset {cursor} is outside the document (0..{len(text)})")
        return cursor
    line, column = cursor
    lines = text.split("\n")
    if not 0 <= line < len(lines):
        raise PositionError(f"line {line + 1} is outside the document, which has {len(lines)} lines")
    if not 0 <= column <= len(lines[line]):
        raise PositionError(
            f"column {column + 1} is outside line {line + 1}, which has {len(lines[line])} characters "
            f"(the last valid column is {len(lines[line]) + 1}, the end of the line)"
        )
    return sum(len(l) + 1 for l in lines[:line]) + column


def encodable(text: str) -> str:
    """`text` with lone surrogates (what a bad UTF-16 conversion leaves) as U+FFFD: same length,
    so offsets stay valid, and safe to encode as UTF-8 for the parser and the tokenizer."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
