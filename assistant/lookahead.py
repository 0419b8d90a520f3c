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

from decoders.stopping import StopRules

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


def answer_boundary(stop: StopRules) -> Callable[[str, str], bool]:
    """The boundary where the completion itself would end: its stop rules cut the text written
    so far with the lookahead's."""
    return lambda before, lookahead: stop.cut(before + lookahead) is not None


PLACES = ("any", "statements", "start")


def pause_place(place: str, line_prefix: str) -> Callable[[str], bool] | None:
    """Where a step may pause, from the text written before it: "statements", where a statement
    begins (the cursor's line, with that text, holds nothing but indentation); "start", before
    anything but whitespace is written; "any": anywhere (None)."""
    if place == "statements":
        return lambda before: not (line_prefix + before).rsplit("\n", 1)[-1].strip()
    if place == "start":
        return lambda before: not before.strip()
    return None
