"""The stop rules that hold a completion to its scope, and the trim of what it would repeat."""

from __future__ import annotations

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


def closes_unopened(scope: Scope):
    """A stop predicate for a line whose text after the cursor starts with a closing bracket
    (`f(a|)`, `xs[i|];`): cut before the generated text closes a bracket it did not open, which the
    line already closes. Brackets inside the generated text's own strings do not count."""

    def check(text: str) -> int | None:
        depth, quote = 0, ""
        for i, c in enumerate(text):
            if quote:
                quote = "" if c == quote and not _escaped(text, i) else quote
            elif c in "\"'`":
                quote = c
            elif c in _OPENERS:
                depth += 1
            elif c in _CLOSERS:
                depth -= 1
                if depth < 0:
                    return i
        return None

    return check


def closes_the_line(scope: Scope) -> bool:
    """Whether the text after the cursor starts with a closing bracket (see `closes_unopened`)."""
    return scope.kind is ScopeKind.LINE and scope.line_suffix.lstrip()[:1] in tuple(_CLOSERS)


def _escaped(text: str, at: int) -> bool:
    backslashes = len(text[:at]) - len(text[:at].rstrip("\\"))
    return backslashes % 2 == 1


def finish(text: str, scope: Scope) -> str:
    """The completion as it will be inserted: no trailing blanks, nothing that follows the cursor."""
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
