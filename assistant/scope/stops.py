"""The stop rules that hold a completion to its scope, and the trim of what it would repeat."""

from __future__ import annotations

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
    """A stop predicate for a line whose text after the cursor starts with a closing bracket
    (`f(a|)`, `xs[i|];`): cut before the generated text closes a bracket it did not open, which the
    line already closes. Brackets inside the generated text's own strings do not count."""

    def check(text: str) -> int | None:
        depth = 0
        for i, c in _code(text):
            depth += (c in _OPENERS) - (c in _CLOSERS)
            if depth < 0:
                return i
        return None

    return check


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
    """Whether the text after the cursor starts with a closing bracket (see `closes_unopened`)."""
    return scope.kind is ScopeKind.LINE and scope.line_suffix.lstrip()[:1] in tuple(_CLOSERS)


def _escaped(text: str, at: int) -> bool:
    backslashes = len(text[:at]) - len(text[:at].rstrip("\\"))
    return backslashes % 2 == 1


def finish(text: str, scope: Scope, cut_off: bool = False) -> str:
    """The completion as it will be inserted: no trailing blanks, nothing that follows the cursor.
    `cut_off`: the token budget ended it; a block of brackets then keeps its whole lines (Python's
    blocks are not read by brackets, and a cut one is left as it is)."""
    if cut_off and scope.kind is ScopeKind.BLOCK and scope.family != "python":
        text = whole_lines(text)
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
