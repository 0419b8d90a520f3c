"""Where a lookahead may stop early: at the end of a complete statement, as tree-sitter sees it.

AdaDec's fixed lookahead (a few tokens) often stops mid-expression, where the continuations of
two candidates are not yet comparable; a statement that parses is a natural unit. The boundary
is reached once the lookahead has finished a line and the lines from where the pause's line
began parse without an error: `return a + b` ends there, `x = f(a,` does not, and a block's
header (`if x:`) runs on into its first statement.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable

from .languages.grammars import python_parser


def parses(source: str) -> bool:
    return not python_parser().parse(source.encode("utf-8")).root_node.has_error


def statement_boundary(line_prefix: str) -> Callable[[str, str], bool]:
    """The boundary for a completion whose cursor line starts with `line_prefix` (the document's
    text on the cursor's line before the cursor)."""

    def reached(before: str, lookahead: str) -> bool:
        if "\n" not in lookahead:
            return False
        written = line_prefix + before
        start = written.rfind("\n") + 1  # the line the pause is on
        text = written + lookahead
        lines = text[start : text.rfind("\n") + 1]
        # tree-sitter accepts a header with no body (`if x:`); a header is not yet a statement.
        return not lines.rstrip().endswith(":") and parses(textwrap.dedent(lines))

    return reached
