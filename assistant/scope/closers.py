"""Whether the cursor is inside a string or a comment that its own line closes, and with what.

Read with the language's grammar: the innermost string or comment node around the cursor, on one
line, whose closing delimiter (a quote, a backquote, a triple quote, `*/`) follows the cursor on
that line. A completion there should finish the literal's text and stop before that delimiter,
rather than close it a second time and write on past it."""

from __future__ import annotations

import string

import tree_sitter

from ..languages.grammars import parser_for

_QUOTES = ('"""', "'''", '"', "'", "`")
_PREFIXES = string.ascii_letters + string.digits + "@$"  # f"…", r'…', u8"…", @"…"
_CODE_INSIDE = ("interpolation", "template_substitution", "escape_sequence")
_PARTS = ("_content", "_fragment", "_start", "_end")  # pieces of a literal, not the literal


def closer_at(text: str, cursor: int, language: str) -> str:
    """The closing delimiter of the literal around `cursor`, or "" when there is none."""
    parser = parser_for(language)
    line_end = text.find("\n", cursor)
    suffix = text[cursor : len(text) if line_end < 0 else line_end]
    line = text[text.rfind("\n", 0, cursor) + 1 : cursor]
    # A literal on one line opens on the cursor's line: without a quote or "/*" before the cursor
    # there is none, and the whole document need not be parsed (this runs on every line request).
    if parser is None or not suffix.strip() or not any(d in line for d in ('"', "'", "`", "/*")):
        return ""
    at = len(text[:cursor].encode("utf-8"))
    node = parser.parse(text.encode("utf-8")).root_node.descendant_for_byte_range(at, at)
    literal = _enclosing_literal(node, at)
    if literal is None or literal.start_point[0] != literal.end_point[0]:
        return ""
    body = (literal.text or b"").decode("utf-8", "replace")
    closer = _closing_delimiter(body, "comment" in literal.type)
    return closer if closer and closer in suffix else ""


def _closing_delimiter(body: str, comment: bool) -> str:
    if comment:
        return "*/" if body.startswith("/*") and body.endswith("*/") and len(body) >= 4 else ""
    opened = body.lstrip(_PREFIXES)
    return next((q for q in _QUOTES if opened.startswith(q) and opened.endswith(q) and len(opened) >= 2 * len(q)), "")


def _enclosing_literal(node: tree_sitter.Node | None, at: int) -> tree_sitter.Node | None:
    while node is not None:
        kind = node.type
        if kind in _CODE_INSIDE:
            return None  # code inside a string, or half of an escape: no delimiter to stop at
        literal = "string" in kind or "comment" in kind or kind in ("char_literal", "character_literal")
        if literal and not kind.endswith(_PARTS) and node.start_byte < at < node.end_byte:
            return node
        node = node.parent
    return None
