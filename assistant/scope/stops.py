"""The stop rules that hold a completion to its scope, and the trim of what it would repeat."""

from __future__ import annotations

import re
from collections.abc import Iterator

from .base import Scope, ScopeKind, indent


def block_end(scope: Scope):
    """A stop predicate: cut where a generated line returns to the header's indentation (the
    dedent in Python, the closing `}` or `end` elsewhere).

    It cuts at the start of that line (after its newline), which is always within the last
    line of the text it is shown, as streaming requires.
    """

    def check(text: str) -> int | None:
        start = text.find("\n") + 1  # the first line continues the cursor's line: never a dedent
        while start > 0:
            end = text.find("\n", start)
            line = text[start:] if end < 0 else text[start:end]
            if line.strip() and indent(line) <= scope.header_indent:
                return start
            start = end + 1
        return None

    return check


def repeats_next_line(scope: Scope):
    """A stop predicate: cut a completed line that equals the first line after the cursor."""
    target = scope.next_line.rstrip()

    def check(text: str) -> int | None:
        if not target or not text.endswith("\n"):
            return None
        start = text.rfind("\n", 0, len(text) - 1) + 1
        return start if text[start:-1].rstrip() == target else None

    return check


def ends_the_next_line(text: str, after: int = 0) -> int | None:
    """A stop rule for a cursor at a line's end whose completion is the line after it: cut at the
    end of the first line that has something on it after character `after` (the newline and
    indentation before it stay; `after` skips what token healing rewrites of the cursor's line)."""
    rest = text[after:]
    start = len(rest) - len(rest.lstrip())
    end = rest.find("\n", start) if start < len(rest) else -1
    return after + end if end >= 0 else None


def closes(scope: Scope):
    """A stop predicate for a line inside a string or a comment whose closing delimiter already
    follows the cursor: cut before the generated text closes it (an escaped quote does not)."""
    closer = scope.closer

    def check(text: str) -> int | None:
        at = text.find(closer)
        while at > 0 and _escaped(text, at):
            at = text.find(closer, at + 1)
        return at if at >= 0 else None

    return check


_OPENERS, _CLOSERS = "([{", ")]}"


def _code(text: str) -> Iterator[tuple[int, str]]:
    """(offset, character) of the code in `text`: outside strings ('…', "…", `…`) and comments
    (`//`, `/* */`, `#`), read loosely, as generated text may stop anywhere. A one-line string
    ends at its line's end."""
    quote, comment, i = "", "", 0
    while i < len(text):
        c, pair = text[i], text[i : i + 2]
        if comment:
            if (comment == "*/" and pair == "*/") or (comment == "\n" and c == "\n"):
                i += len(comment)
                comment = ""
                if c == "\n":
                    yield i - 1, c
                continue
        elif quote:
            if c == "\\":
                i += 1
            elif c == quote or (c == "\n" and quote != "`"):
                quote = ""
                if c == "\n":
                    yield i, c
        elif pair in ("//", "/*") or c == "#":
            comment = "*/" if pair == "/*" else "\n"
        elif c in "\"'`":
            quote = c
        else:
            yield i, c
        i += 1


def closes_unopened(scope: Scope):
    """A stop predicate for a line that the text after the cursor closes, with a closing bracket
    (`f(a|)`, `xs[i|];`) or a `;` (`x = y|;`): cut before the generated text closes a bracket that
    neither it nor the line before the cursor opened, or that the text after the cursor closes
    itself. Brackets inside strings and comments do not count."""
    ahead = scope.line_suffix.lstrip()[:1]
    allowed = 0 if ahead in _CLOSERS else _open_brackets(scope.line_prefix)

    def check(text: str) -> int | None:
        depth = 0
        for i, c in _code(text):
            depth += (c in _OPENERS) - (c in _CLOSERS)
            if depth < -allowed:
                return i
        return None

    return check


def _open_brackets(line: str) -> int:
    """Brackets the line opens and does not close (one it closes from an earlier line: none)."""
    depth = 0
    for _, c in _code(line):
        depth = max(depth + (c in _OPENERS) - (c in _CLOSERS), 0)
    return depth


# A C-family statement head whose statement has not come yet: `if (…)`, `} else`, `for (…)`, `do`.
_DANGLING = re.compile(r"^\s*(\}\s*)?(else\s+if\s*\(.*\)|if\s*\(.*\)|for\s*\(.*\)|while\s*\(.*\)|else|do)\s*$")


def _without_dangling_header(text: str) -> str:
    lines = text.rstrip().split("\n")
    while lines and _DANGLING.match(lines[-1]):
        lines.pop()
    return "\n".join(lines)


def whole_lines(text: str) -> str:
    """`text` up to the end of its last line at which every bracket it opened is closed: what is
    left of a block cut off by the token budget that still parses where it is put."""
    depth, end = 0, 0
    for i, c in _code(text):
        depth += (c in _OPENERS) - (c in _CLOSERS)
        if c == "\n" and depth <= 0:
            end = i
    return text[:end]


def closes_the_line(scope: Scope) -> bool:
    """Whether the text after the cursor starts with a closing bracket or a `;` (see `closes_unopened`)."""
    return scope.kind is ScopeKind.LINE and scope.line_suffix.lstrip()[:1] in (*_CLOSERS, ";")


def _escaped(text: str, at: int) -> bool:
    backslashes = len(text[:at]) - len(text[:at].rstrip("\\"))
    return backslashes % 2 == 1


def finish(text: str, scope: Scope, cut_off: bool = False) -> str:
    """The completion as it will be inserted: no trailing blanks, nothing that follows the cursor.
    Outside Python, a block keeps its lines up to the last at which its brackets are closed, and
    a braces block no trailing header that still waits for its statement (`if (x)`, `else`), so
    that what is inserted parses (Python's blocks are not read by brackets: left as written).
    `cut_off`: the token budget ended it, so its last line is not whole."""
    if scope.kind is ScopeKind.BLOCK and scope.family != "python":
        text = whole_lines(text if cut_off else text + "\n")  # the last line is whole unless cut off
        text = _without_dangling_header(text) if scope.family == "braces" else text
    text = text.rstrip()
    if scope.kind is ScopeKind.BLOCK:
        lines = text.split("\n")
        if len(lines) > 1 and scope.next_line.strip() and lines[-1].rstrip() == scope.next_line.rstrip():
            text = "\n".join(lines[:-1]).rstrip()
        return text
    ahead = scope.line_suffix.strip()
    for k in range(len(ahead), 0, -1):
        if text.endswith(ahead[:k]):
            return text[: len(text) - k]
    return text
