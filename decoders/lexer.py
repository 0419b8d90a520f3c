"""A character-level Python lexer small enough to run on every generated character.

Monitors need three facts about the text so far: is this character code (not a string or a
comment), does the code before a "." end an expression (`obj`, `f()`, `xs[0]`, `"s"`, but not
`1` or `return`), and is the current line an import statement. `tokenize` cannot answer them on
text that is cut anywhere, and tree-sitter would re-parse the whole prefix at every step; this
scanner carries a few fields from character to character instead. It is deliberately lenient:
where it cannot tell (f-string fields, line continuations) it reports no trigger, so a monitor
says "no constraint" rather than a wrong one.
"""

from __future__ import annotations

import keyword
from enum import Enum
from typing import Protocol, TypeVar


def is_identifier_char(c: str) -> bool:
    return c.isalnum() or c == "_"


_NOT_EXPRESSIONS = frozenset(keyword.kwlist) - {"True", "False", "None"}
_IMPORT_HEADS = ("import", "from")


class Trigger(Enum):
    DEREFERENCE = "dereference"  # a "." after an expression: a member name comes next
    IMPORT = "import"  # a module or importable name comes next (after `import `, `from `, `, ` or a "." in an import)


_L = TypeVar("_L")


def copy_slots(lexer: _L) -> _L:
    """A copy of a lexer whose state is its `__slots__`, cheaper than copy.copy on every step."""
    kind = type(lexer)
    other = kind.__new__(kind)
    for name in kind.__slots__:  # pyright: ignore[reportAttributeAccessIssue]  # T has __slots__ here
        setattr(other, name, getattr(lexer, name))
    return other


class CodeLexer(Protocol):
    """What monitors read of a lexer, whatever its language (this Python one, or
    decoders/brace_lexer.py's for the C family)."""

    mode: str  # "code" outside strings and comments
    expression_end: bool  # the last code character ends an expression

    def feed(self, c: str) -> Trigger | None: ...

    def clone(self) -> CodeLexer: ...

    def opens_call(self) -> bool:
        """Whether a "(" here calls what precedes it (not a group, a control statement's head or a
        definition's parameter list)."""
        ...

    def opens_type_arguments(self) -> bool:
        """Whether a "<" here may open type arguments (`List<`), whose commas are no call's."""
        ...


class Lexer:
    """Mutable for speed while scanning a prompt; monitors keep `clone()`s as values."""

    __slots__ = ("mode", "quote", "escaped", "closing", "word", "word_is_number", "expression_end", "line_head", "line_fresh", "last_code_char", "empty")

    def __init__(self) -> None:
        self.mode = "code"  # "code", "comment" or "string"
        self.quote = ""  # the closing quote of the string we are in: ' " ''' or """
        self.escaped = False
        self.closing = 0  # quotes seen in a row (to close a triple-quoted string, or open one after "")
        self.word = ""  # the identifier or number being read
        self.word_is_number = False
        self.expression_end = False  # the last code character ends an expression
        self.line_head = ""  # the current line's first word
        self.line_fresh = True  # nothing but indentation on this line yet
        self.last_code_char = ""
        self.empty = False  # the string being read (or just closed) has no content

    def clone(self) -> Lexer:
        return copy_slots(self)

    def opens_call(self) -> bool:
        """`f(`, `o.m(`, `g()(`: not a group or tuple, and not a `def` or `class` header (its
        parameters are not arguments)."""
        if self.line_head in ("def", "class"):
            return False
        if self.word:
            return not self.word_is_number and not keyword.iskeyword(self.word)
        return self.expression_end

    def opens_type_arguments(self) -> bool:
        return False  # Python writes them in brackets

    def feed(self, c: str) -> Trigger | None:
        """Advance over one character; the trigger this character completes, if any."""
        if self.mode == "comment":
            if c == "\n":
                self.mode = "code"
                self._newline()
            return None
        if self.mode == "string":
            self._in_string(c)
            return None
        return self._in_code(c)

    def _in_string(self, c: str) -> None:
        if self.escaped:
            self.escaped = False
            return
        if c == "\\":
            self.escaped, self.empty = True, False
            return
        if c == "\n" and len(self.quote) == 1:  # an unterminated one-line string: recover
            self.mode = "code"
            self._newline()
            return
        if c != self.quote[0]:
            self.closing, self.empty = 0, False
            return
        self.closing += 1
        if self.closing == len(self.quote):
            self.mode, self.closing, self.expression_end = "code", 1, True
            self.last_code_char = c
        elif len(self.quote) == 3:
            self.empty = False

    def _in_code(self, c: str) -> Trigger | None:
        if is_identifier_char(c):
            if not self.word:
                self.word_is_number = c.isdigit()
            self.word += c
            self.closing = 0
            return None
        ended = self._end_word()
        trigger = self._trigger(c, ended)
        if c in "'\"":
            self._quote(c)
        elif c == "#":
            self.mode = "comment"
        elif c == "\n":
            self._newline()
        if c not in " \t\n\r'\"":
            self.line_fresh = False
        if c not in "'\"":
            self.closing = 0
        if c not in " \t":
            self.expression_end = c in ")]" or (c in "'\"" and self.mode == "code")
            self.last_code_char = c
        return trigger

    def _end_word(self) -> str:
        word, self.word = self.word, ""
        if word:
            if self.line_fresh:
                self.line_head = word
            self.expression_end = not self.word_is_number and word not in _NOT_EXPRESSIONS
            self.last_code_char = word[-1]
            self.line_fresh = False
        return word

    def _trigger(self, c: str, ended: str) -> Trigger | None:
        importing = self.line_head in _IMPORT_HEADS
        if c == "." and self.expression_end and self.last_code_char != ".":
            return Trigger.IMPORT if importing else Trigger.DEREFERENCE
        if c != " " or not importing:
            return None
        if ended == "import" or (ended == "from" and self.line_head == "from"):
            return Trigger.IMPORT
        if not ended and self.last_code_char == ",":
            return Trigger.IMPORT
        return None

    def _quote(self, c: str) -> None:
        # A quote right after an empty string ("" then ") opens a triple-quoted string.
        triple = self.closing == 1 and self.last_code_char == c and self.empty
        self.mode, self.quote, self.closing, self.empty = "string", c * 3 if triple else c, 0, True

    def _newline(self) -> None:
        self.line_head, self.line_fresh, self.expression_end, self.last_code_char = "", True, False, "\n"
