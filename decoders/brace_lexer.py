"""A character-level lexer for the C family (C, C++, Java, JavaScript, TypeScript, Go, Rust, C#),
the counterpart of decoders/lexer.py's Python one, small enough to run on every generated character.

Monitors need to know whether a character is code (not in a string or a comment) and whether it
completes a member trigger after an expression: `obj.`, `obj?.`, and where the language has them
`ptr->` and `ns::`. Comments are `//` to the end of the line and `/* … */`; strings are `"…"`,
`'…'` and template literals in backquotes, whose `${…}` parts it does not follow (no trigger inside
them). Like the Python lexer it is lenient: where it cannot tell (a Rust lifetime `'a`, which it
reads as a character literal up to the line's end) it reports no trigger, so a monitor says "no
constraint" rather than a wrong one.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lexer import Trigger, copy_slots, is_identifier_char

# Words after which a "." or "->" does not follow an expression (`return .5` is not a member access).
_NOT_EXPRESSIONS = frozenset(
    "return new delete typeof instanceof void case else do in of yield await throw goto sizeof "
    "if while for switch catch var let const func fn function type struct enum union class extends implements "
    "import export package public private protected static final".split()
)


# Words before a name whose "(" opens parameters, not arguments.
_DEFINING = frozenset(
    {"function", "func", "fn", "def", "void", "int", "char", "double", "float", "long", "short", "bool", "auto", "unsigned", "static", "inline"}
)


@dataclass(frozen=True)
class Triggers:
    """The member triggers a language has besides ".": `->` (C, C++) and `::` (C++, Rust)."""

    arrow: bool = False
    path: bool = False


class BraceLexer:
    __slots__ = ("triggers", "mode", "quote", "escaped", "word", "word_is_number", "expression_end", "last_code_char", "before_operator", "last_word")

    def __init__(self, triggers: Triggers = Triggers()) -> None:
        self.triggers = triggers
        self.mode = "code"  # "code", "line_comment", "block_comment" or "string"
        self.quote = ""  # the string's closing quote
        self.escaped = False
        self.word = ""  # the identifier or number being read
        self.word_is_number = False
        self.expression_end = False  # the last code character ends an expression
        self.last_code_char = ""
        self.before_operator = False  # whether an expression ended before a pending "-", "?" or ":"
        self.last_word = ""  # the identifier or keyword before the current one

    def clone(self) -> BraceLexer:
        return copy_slots(self)

    def feed(self, c: str) -> Trigger | None:
        """Advance over one character; the trigger this character completes, if any."""
        if self.mode == "line_comment":
            if c == "\n":
                self.mode = "code"
            return None
        if self.mode == "block_comment":
            if c == "/" and self.last_code_char == "*":
                self.mode, self.last_code_char = "code", " "
            else:
                self.last_code_char = c
            return None
        if self.mode == "string":
            self._in_string(c)
            return None
        return self._in_code(c)

    def _in_string(self, c: str) -> None:
        if self.escaped:
            self.escaped = False
        elif c == "\\":
            self.escaped = True
        elif c == self.quote or (c == "\n" and self.quote != "`"):  # an unterminated one-line string: recover
            self.mode, self.expression_end, self.last_code_char = "code", c == self.quote, c

    def _in_code(self, c: str) -> Trigger | None:
        if is_identifier_char(c):
            if not self.word:
                self.word_is_number = c.isdigit()
            self.word += c
            return None
        self._end_word()
        if c in " \t\r\n":
            if self.last_code_char in "-?:":
                self.last_code_char = " "  # `- >` is no arrow, `: :` no path
            return None
        previous, trigger = self.last_code_char, self._trigger(c)
        if c == "/" and previous == "/":
            self.mode = "line_comment"
        elif c == "*" and previous == "/":
            self.mode, self.last_code_char = "block_comment", " "
            return None
        elif c in "\"'`":
            self.mode, self.quote, self.escaped = "string", c, False
        if c in "-?:":
            self.before_operator = self.expression_end and previous != c
        self.expression_end = c in ")]"
        self.last_code_char = c
        return trigger

    def opens_call(self) -> bool:
        """`f(`, `o.m(`, `g()(`, `new C(`: not a group, a control statement's head (`if (`), or the
        parameter list of a definition (`function f(`, `func f(`, `fn f(`)."""
        if self.word:
            named = not self.word_is_number and self.word not in _NOT_EXPRESSIONS
            return named and self.last_word not in _DEFINING
        return self.expression_end

    def opens_type_arguments(self) -> bool:
        return bool(self.word) and not self.word_is_number  # `Map<`, `vector<`; `a < b` has a space

    def _end_word(self) -> None:
        word, self.word = self.word, ""
        if word:
            self.last_word = word
            self.expression_end = not self.word_is_number and word not in _NOT_EXPRESSIONS
            self.last_code_char = word[-1]

    def _trigger(self, c: str) -> Trigger | None:
        previous = self.last_code_char
        if c == "." and (self.expression_end or (previous == "?" and self.before_operator)):
            return Trigger.DEREFERENCE
        if c == ">" and previous == "-" and self.triggers.arrow and self.before_operator:
            return Trigger.DEREFERENCE
        if c == ":" and previous == ":" and self.triggers.path and self.before_operator:
            return Trigger.DEREFERENCE
        return None
