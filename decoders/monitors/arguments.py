"""The argument monitor: inside a call whose signature static analysis reports, the arguments
written must fit its parameters. Two rules, at the call's own depth (what lies inside nested
brackets, strings and comments belongs to something else):
- a keyword argument `name=` (a single "=", not "==") must name a parameter that takes a keyword
  and was not given yet (as a keyword or positionally); with `**kwargs` any new name goes;
- a "," after a positional argument is refused when that argument filled the last positional
  parameter and nothing could take what follows (no `*args`, keyword-only parameter or `**kwargs`).
  Once a keyword was given, positionals are not counted. A trailing comma after the last
  positional is allowed when the same token ends the line (",\n": the multi-line call style that
  formatters write, `)` on the next line); a "," ending its token there is refused, since the
  rule cannot know that ")" would follow (`f(a, b,)` on one line is rare).
Not checked: types, missing or required arguments, `def`/`class` headers (not calls).

Every open call has its own rule (a stack of brackets); its signature is asked right after its "("
(signatureHelp), only once a "," or a keyword's "=" is chosen there. No signature, a `...`
parameter, an unpacked `*xs` / `**kw` argument, or arguments already at odds with the signature
(the user's own text) mean no constraint for that call. The server's active signature is trusted:
for an overloaded function it may be narrower than the function.

No rule is cheap to state over the whole vocabulary without asking the server at every argument,
so `allowed()` is None and `refine` checks the chosen token by simulating its text. A "=" at the
end of a token ends a keyword's name (models write "==" as one token, so `x` + `=` + `=` is refused
like a bad keyword). When a token's first character breaks the rule, every token starting the same
way is removed with it: they all meet the same state.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

import torch

from ..guides import Guide
from ..lexer import CodeLexer, is_identifier_char
from .monitor import MonitorContext

_OPENERS, _CLOSERS, _LAYOUT = "([{", ")]}", " \t\r\n\\#"  # "#": a comment's text is skipped by the lexer
_POSITIONAL = ("positional_only", "positional_or_keyword")
_KEYWORD = ("positional_or_keyword", "keyword_only")
_KINDS = (*_POSITIONAL, "keyword_only", "var_positional", "var_keyword")


class Parameter(Protocol):  # assistant.analysis.replies.Parameter, duck-typed: decoders import nothing above them
    name: str
    kind: str


class Signature(Protocol):
    parameters: tuple[Parameter, ...]


@dataclass(frozen=True)
class CallRule:
    """What a signature allows, reduced to the two rules."""

    positional: tuple[str, ...]  # parameters that take a positional argument, in order
    keyword: frozenset[str]  # parameters that take a keyword argument
    var_positional: bool
    var_keyword: bool
    keyword_only: bool

    @classmethod
    def of(cls, signature: Signature | None) -> CallRule | None:
        params = signature.parameters if signature is not None else ()
        if signature is None or any(p.name == "..." or p.kind not in _KINDS for p in params):
            return None  # basedpyright's gradual `...` (or a kind we do not know): anything goes
        kinds = {p.kind for p in params}
        return cls(
            tuple(p.name for p in params if p.kind in _POSITIONAL),
            frozenset(p.name for p in params if p.kind in _KEYWORD),
            "var_positional" in kinds,
            "var_keyword" in kinds,
            "keyword_only" in kinds,
        )

    def keyword_ok(self, positional: int, given: tuple[str, ...], name: str) -> bool:
        if name in given:  # a repeated keyword is a SyntaxError, **kwargs or not
            return False
        if name in self.keyword:
            return name not in self.positional[:positional]  # "got multiple values"
        return self.var_keyword

    def fits(self, positional: int, given: tuple[str, ...]) -> bool:
        """Whether the arguments so far fit; if not, the server and the user's text disagree."""
        if positional > len(self.positional) and not self.var_positional:
            return False
        return all(self.keyword_ok(positional, given[:i], k) for i, k in enumerate(given))

    def comma_ok(self, positional: int) -> bool:
        """Whether another argument may follow `positional` positional ones (and no keyword)."""
        if self.var_positional or self.var_keyword or self.keyword_only:
            return True
        return positional != len(self.positional)  # more than that: already at odds, no constraint


@dataclass(frozen=True)
class ArgumentContext:
    """The name monitor's context (document, analysis, vocabulary, stats) plus a memo of signatures,
    so that a sequence always gets the same answer (speculation must match plain decoding)."""

    base: MonitorContext  # its analysis must also answer `signature(path, text, offset)`
    keywords: bool = True  # the language has keyword arguments (Python); else only the count is checked
    _rules: dict = field(default_factory=dict, compare=False)  # text before the "(" and it -> CallRule | None
    _masks: dict = field(default_factory=dict, compare=False)

    def signature_at(self, before: str, after: str) -> CallRule | None:
        """The rule of the call whose "(" ends `before`, in the document `before + after`."""
        if before not in self._rules:
            self.base.stats.queries += 1
            rule = CallRule.of(self.base.analysis.signature(self.base.path, before + after, len(before)))
            self.base.stats.constrained += rule is not None
            self._rules[before] = rule
        return self._rules[before]

    def starting(self, *leads: str, unless: str = "") -> torch.Tensor:
        """[vocab] bool: tokens starting with one of `leads` but not with that lead + `unless`."""
        key = (leads, unless)
        if key not in self._masks:
            vocabulary = self.base.index.vocabulary
            mask = torch.zeros(vocabulary.size, dtype=torch.bool)
            for lead in leads:
                mask[vocabulary.starting_with(lead)] = True
                if unless:
                    mask[vocabulary.starting_with(lead + unless)] = False
            self._masks[key] = mask
        return self._masks[key]


@dataclass(frozen=True)
class Frame:
    """An open bracket; for a call, the state of its current argument."""

    at: int | None  # a call: offset just past its "(" in prefix + generated text; None: any other bracket
    state: str = "start"  # start | word | equals | expression | keyword | lambda
    word: str = ""  # the argument while it is one identifier (a keyword's name if "=" follows)
    positional: int = 0  # positional arguments finished
    keywords: tuple[str, ...] = ()
    unpacked: bool = False  # a `*xs`, `**kw` or `...xs` argument: the count is unknown
    angle: bool = False  # not a bracket but a "<" that may open type arguments (C family)


Check = tuple[str, Frame, str]  # ("keyword" | "comma", the call before the character, the keyword)


@dataclass(frozen=True)
class ArgumentMonitor(Guide):
    context: ArgumentContext
    generated: str
    lexer: CodeLexer
    frames: tuple[Frame, ...]

    @classmethod
    def start(cls, context: ArgumentContext) -> ArgumentMonitor:
        """The monitor at the end of the prefix; nothing is asked until a rule must be checked."""
        lexer, frames, _ = _scan(context.base.new_lexer(), (), context.base.prefix, 0, None)
        if frames and frames[-1].state == "equals":  # the user's own `name=` at the cursor: a keyword, unchecked
            frames = (*frames[:-1], _commit(frames[-1])[0])
        return cls(context, "", lexer, frames)

    def allowed(self) -> torch.Tensor | None:
        return None  # see the module docstring: every rule is checked on the chosen token

    def advance(self, token: int) -> ArgumentMonitor:
        text = self.context.base.index.vocabulary.texts[token]
        if not text:
            return self
        lexer, frames, _ = _scan(self.lexer, self.frames, text, self._offset(), None)
        return ArgumentMonitor(self.context, self.generated + text, lexer, frames)

    def refine(self, token: int) -> torch.Tensor | None:
        """None if `token` keeps the rules; else [vocab] bool of tokens to remove (`token` among them)."""
        text = self.context.base.index.vocabulary.texts[token]
        if not text:
            return None
        broken = _scan(self.lexer, self.frames, text, self._offset(), lambda check: self._breaks(check, text))[2]
        if broken is None:
            return None
        self.context.base.stats.refined += 1
        bad = torch.zeros(self.context.base.index.vocabulary.size, dtype=torch.bool)
        kind, index = broken
        if kind == "comma" and index == 0:  # every ","-token meets the same state
            bad |= self.context.starting(",", unless="\n")  # ",\n" ends the line: a trailing comma, allowed
        stripped = text.lstrip(" ")
        if kind == "keyword" and self.frames and self.frames[-1].state == "word" and stripped[:1] == "=" and stripped[:2] != "==":
            bad |= self.context.starting("=", " =", unless="=")  # every token that makes this name a keyword
        bad[token] = True
        return bad

    def _offset(self) -> int:
        return len(self.context.base.prefix) + len(self.generated)

    def _breaks(self, check: Check, text: str) -> bool:
        kind, call, name = check
        if call.unpacked:
            return False
        before = (self.context.base.prefix + self.generated + text)[: call.at]
        rule = self.context.signature_at(before, self.context.base.suffix)
        if rule is None or not rule.fits(call.positional, call.keywords):
            return False
        if kind == "keyword":  # without keyword arguments, `x = 1` is an assignment: not checked
            return self.context.keywords and not rule.keyword_ok(call.positional, call.keywords, name)
        return not call.keywords and not rule.comma_ok(call.positional + 1)


def _scan(
    lexer: CodeLexer, frames: tuple[Frame, ...], text: str, offset: int, breaks: Callable[[Check], bool] | None
) -> tuple[CodeLexer, tuple[Frame, ...], tuple[str, int] | None]:
    """The lexer and open brackets after `text` (which starts at `offset` of the document), and,
    when `breaks` is given, the first rule `text` breaks: (kind, index in `text`)."""
    lexer, stack = lexer.clone(), list(frames)
    for i, c in enumerate(text):
        if lexer.mode == "code":
            check = _code_char(stack, c, offset + i + 1, lexer)
            trailing = check is not None and check[0] == "comma" and text[i + 1 : i + 2] in ("\n", "\r")
            if breaks is not None and check is not None and not trailing and breaks(check):
                return lexer, tuple(stack), (check[0], i)
        lexer.feed(c)
    if breaks is not None and stack and stack[-1].state == "equals" and breaks(_commit(stack[-1])[1]):
        return lexer, tuple(stack), ("keyword", len(text))  # `name=` ends the token: a keyword
    return lexer, tuple(stack), None


def _code_char(stack: list[Frame], c: str, after: int, lexer: CodeLexer) -> Check | None:
    """Update the open brackets for code character `c`; what the innermost call must check."""
    check = None
    if c == ">" and stack and stack[-1].angle:
        stack.pop()
        return None
    if stack and stack[-1].at is not None and c not in _CLOSERS:
        stack[-1], check = _argument_char(stack[-1], c)
    if c in _CLOSERS:
        while stack and stack[-1].angle:  # a "<" that was a comparison after all
            stack.pop()
        if stack:  # an unmatched closer is the user's problem, not ours
            stack.pop()
    elif c in _OPENERS:
        stack.append(Frame(after if c == "(" and lexer.opens_call() else None))
    elif c == "<" and lexer.opens_type_arguments():
        stack.append(Frame(None, angle=True))  # `Map<K, V>`, `std::pair<int, int>`: their commas are not arguments'
    return check


def _argument_char(call: Frame, c: str) -> tuple[Frame, Check | None]:
    """The call after code character `c` at its own depth, and what `c` asks to check."""
    state = call.state
    if state == "equals":  # the character after `name=` decides: "==" compares, anything else names a keyword
        if c == "=":
            return replace(call, state="expression", word=""), None
        committed, check = _commit(call)
        return _argument_char(committed, c)[0], check
    if c in _LAYOUT:
        if state == "word" and call.word == "lambda":  # its parameters' commas are not arguments
            return replace(call, state="lambda", word=""), None
        return (replace(call, word=call.word + c) if state == "word" else call), None
    if c == ",":
        if state in ("word", "expression"):
            return replace(call, state="start", word="", positional=call.positional + 1), ("comma", call, "")
        return (replace(call, state="start") if state == "keyword" else call), None
    if state == "start":
        if c in "*.":  # Python's `*xs`, JavaScript's `...xs` (C's `*p`: the count stays unknown too)
            return replace(call, state="expression", unpacked=True), None
        word = is_identifier_char(c)
        return replace(call, state="word" if word else "expression", word=c if word else ""), None
    if state == "word":
        if is_identifier_char(c) and not call.word.endswith((" ", "\t", "\n")):
            return replace(call, word=call.word + c), None
        if c == "=" and _is_name(call.word.strip()):
            return replace(call, state="equals"), None
        return replace(call, state="expression", word=""), None
    if state == "lambda" and c == ":":
        return replace(call, state="expression"), None
    return call, None


def _commit(call: Frame) -> tuple[Frame, Check]:
    """The call after `name=` became a keyword argument, and the check of its name."""
    name = call.word.strip()
    return replace(call, state="keyword", word="", keywords=(*call.keywords, name)), ("keyword", call, name)


def _is_name(word: str) -> bool:
    return word.isidentifier() and not keyword.iskeyword(word)
