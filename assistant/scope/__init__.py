"""How much to write at the cursor, and the stop rules that enforce it.

- LINE: the cursor is inside or at the end of a line of code: finish that line (inside a string or
  a comment that the line closes, finish it up to its closing delimiter).
- BLOCK: the cursor opens a block, on the header's line or on a blank line after it: write the
  block's body, and stop where a line comes back to the header's indentation.

What opens a block is each language family's own rule, one module each: `python` (a header's
`:`), `braces` (`{` … `}`), `keywords` (a header keyword … `end`) and `text` (brackets and
indentation, for languages without rules here). Either way the completion must not repeat what
already follows the cursor (`stops`).
"""

from __future__ import annotations

from ..languages import PYTHON, Language
from .base import BlockRules, Scope, ScopeKind
from .braces import BraceBlocks
from .closers import closer_at
from .keywords import KeywordBlocks
from .python import PythonBlocks
from .stops import block_end, closes, closes_the_line, closes_unopened, ends_the_next_line, finish, repeats_next_line, whole_lines
from .text import TextBlocks

__all__ = [
    "Scope",
    "ScopeKind",
    "block_end",
    "closes",
    "closes_the_line",
    "closes_unopened",
    "decide",
    "ends_the_next_line",
    "finish",
    "repeats_next_line",
    "whole_lines",
]

FAMILIES: dict[str, BlockRules] = {"python": PythonBlocks(), "braces": BraceBlocks(), "keywords": KeywordBlocks(), "text": TextBlocks()}


def decide(text: str, cursor: int, language: Language = PYTHON) -> Scope:
    """The scope of a completion at character offset `cursor` of `text`, written in `language`."""
    line_start = text.rfind("\n", 0, cursor) + 1
    line_end = text.find("\n", cursor)
    line_end = len(text) if line_end < 0 else line_end
    line_prefix, line_suffix = text[line_start:cursor], text[cursor:line_end]
    next_line = next((line for line in text[line_end + 1 :].split("\n") if line.strip()), "")
    if not line_suffix.strip():
        on_header = bool(line_prefix.strip())
        header = FAMILIES[language.family].header_indent(text, cursor, on_header, language.name)
        if header is not None:
            return Scope(ScopeKind.BLOCK, line_prefix, line_suffix, header, next_line, family=language.family)
    closer = closer_at(text, cursor, language.name)
    return Scope(ScopeKind.LINE, line_prefix, line_suffix, next_line=next_line, closer=closer, family=language.family)
