"""The name monitor: after a trigger, the identifier written next must be a name that static
analysis lists there (the paper's dereference monitor, and the same rule for imports).

State is a value: the generated text, a lexer snapshot and, inside a monitored identifier, the
names it must become and what has been written of it. `advance` returns a new monitor.

Tokens can carry a trigger inside them (`.get`, `_path.join(`): the model writes `obj.get` as
`obj` + `.get` far more often than as `obj` + `.` + `get`. Asking the language server at every
place a "." could come next would cost a query per token, so such tokens are checked lazily:
`allowed()` constrains the identifier the previous token opened; `refine(token)` checks the token
chosen from it, and when it breaks a rule returns the tokens to remove (for a leading ".", every
"."-token whose member is not listed, from one query). Choosing again without them is exactly
choosing from the fully refined mask: greedy takes the same argmax, and sampling "draw from M;
if the draw is not allowed, draw from M minus the removed" gives the distribution restricted to
the allowed set (the verifier does both, decoders/verify.py).

A language server that gives no answer (slow, crashed, nothing known about the expression) means
no constraint for that identifier; the reason is recorded by the analysis session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ..guides import Guide
from ..lexer import CodeLexer, Lexer, Trigger, is_identifier_char
from .names import NameIndex


class Member(Protocol):
    name: str


class StaticAnalysis(Protocol):
    def completions(self, path: str, text: str, offset: int) -> tuple[Member, ...] | None:
        """The names a language server completes at `offset` of `text`; None if it cannot say."""
        ...

    def signature(self, path: str, text: str, offset: int) -> Any | None:
        """The signature of the call whose "(" ends at `offset` (decoders/monitors/arguments.py's
        `Signature`); None if it cannot say."""
        ...


@dataclass
class MonitorStats:
    queries: int = 0
    constrained: int = 0  # queries that returned names (others: no constraint)
    refined: int = 0  # chosen tokens a monitor rejected and had chosen again


@dataclass(frozen=True)
class MonitorContext:
    """What every state of one generation's monitor shares: the document around the generated
    text, the analysis to ask, and a memo of its answers (so a sequence always gets the same one)."""

    analysis: StaticAnalysis
    path: str
    prefix: str  # the document before the generated text
    suffix: str  # and after it
    index: NameIndex
    triggers: frozenset[Trigger] = frozenset(Trigger)
    stats: MonitorStats = field(default_factory=MonitorStats)
    new_lexer: Callable[[], CodeLexer] = Lexer  # the document's language's (decoders/brace_lexer.py for the C family)
    _names: dict = field(default_factory=dict, compare=False)  # text before the query -> names | None
    _masks: dict = field(default_factory=dict, compare=False)

    def names_at(self, before: str, after: str) -> tuple[str, ...] | None:
        """Names completed right after `before` in the document `before + after`."""
        if before not in self._names:
            self.stats.queries += 1
            members = self.analysis.completions(self.path, before + after, len(before))
            names = tuple(sorted({m.name for m in members or () if m.name.isidentifier()}))
            self.stats.constrained += bool(names)
            self._names[before] = names or None  # an empty list: the server knows nothing here
        return self._names[before]

    def mask(self, names: tuple[str, ...], partial: str, lead: str = "", may_end: bool = False) -> torch.Tensor:
        key = (names, partial, lead, may_end)
        if key not in self._masks:
            mask = self.index.mask(names, partial, lead)
            if may_end and not partial and not lead:
                mask |= self.index.mask(("",))  # an import may go on with "(" or "*"
            self._masks[key] = mask
        return self._masks[key]


@dataclass(frozen=True)
class Pending:
    names: tuple[str, ...]
    partial: str  # what has been written of the identifier
    trigger: Trigger
    required: bool = True  # a name must come (after "."); after `import ` a "(" or "*" may come instead

    def accepts(self, text: str) -> bool:
        return any(name.startswith(text) for name in self.names)

    def may_end(self) -> bool:
        """Whether the identifier may end here (a non-identifier character comes next)."""
        return self.partial in self.names or (not self.partial and not self.required)


@dataclass(frozen=True)
class NameMonitor(Guide):
    context: MonitorContext
    generated: str
    lexer: CodeLexer
    pending: Pending | None

    @classmethod
    def start(cls, context: MonitorContext) -> NameMonitor:
        """The monitor at the end of the prefix, which may end inside a monitored identifier
        (`obj.` or `obj.ge`): then that identifier is constrained from here on."""
        lexer, trigger, at = _scan(context)
        pending, partial = None, context.prefix[at:]
        if trigger is not None and all(is_identifier_char(c) for c in partial):
            names = context.names_at(context.prefix[:at], partial + context.suffix)
            required = trigger is Trigger.DEREFERENCE or context.prefix[at - 1] == "."
            candidate = Pending(names, partial, trigger, required) if names is not None else None
            # A partial name that is already off the list is the user's own text: leave it free.
            pending = candidate if candidate is not None and candidate.accepts(partial) else None
        return cls(context, "", lexer, pending)

    @staticmethod
    def upcoming(context: MonitorContext) -> tuple[str, str] | None:
        """The question the first steps will likely ask, as (text before, text after), so it can be
        sent early: at a trigger the prefix ends on, or after a "." the model may write next."""
        lexer, trigger, at = _scan(context)
        partial = context.prefix[at:]
        if trigger is not None and all(is_identifier_char(c) for c in partial):
            return context.prefix[:at], partial + context.suffix
        if lexer.mode == "code" and lexer.expression_end and Trigger.DEREFERENCE in context.triggers:
            return context.prefix + ".", context.suffix
        return None

    def allowed(self) -> torch.Tensor | None:
        p = self.pending
        if p is None:
            return None
        return self.context.mask(p.names, p.partial, may_end=not p.required)

    def names_to_choose(self) -> tuple[str, ...] | None:
        """The names one of which must be written from here, whole: at the start of an identifier
        after "." (decoders/monitors/choice.py may choose among them by whole-name probability)."""
        p = self.pending
        return p.names if p is not None and p.required and not p.partial else None

    def advance(self, token: int) -> NameMonitor:
        text = self.context.index.vocabulary.texts[token]
        if not text:
            return self
        lexer, pending, _ = self._walk(text)
        return NameMonitor(self.context, self.generated + text, lexer, pending)

    def refine(self, token: int) -> torch.Tensor | None:
        """None if `token` keeps the rules; else [vocab] bool of tokens to remove (`token` among them)."""
        text = self.context.index.vocabulary.texts[token]
        if not text:
            return None
        if self._walk(text)[2] is None:
            return None
        self.context.stats.refined += 1
        bad = torch.zeros(self.context.index.vocabulary.size, dtype=torch.bool)
        if text.startswith(".") and self.pending is None and (names := self._names_after_dot()) is not None:
            # Every "."-token after this expression, from the one answer: those whose member is not listed go.
            bad[self.context.index.vocabulary.starting_with(".")] = True
            bad &= ~self.context.mask(names, "", lead=".")
        bad[token] = True
        return bad

    def _names_after_dot(self) -> tuple[str, ...] | None:
        trigger = self.lexer.clone().feed(".")
        if trigger is None or trigger not in self.context.triggers:
            return None
        return self.context.names_at(self.context.prefix + self.generated + ".", self.context.suffix)

    def _walk(self, text: str) -> tuple[CodeLexer, Pending | None, Pending | None]:
        """The lexer and pending identifier after `text`, and the pending rule `text` broke (if any)."""
        lexer, pending = self.lexer.clone(), self.pending
        for i, c in enumerate(text):
            if pending is not None:
                if is_identifier_char(c):
                    if not pending.accepts(pending.partial + c):
                        return lexer, pending, pending
                    pending = Pending(pending.names, pending.partial + c, pending.trigger, pending.required)
                elif not pending.may_end():
                    return lexer, pending, pending
                else:
                    pending = None
            trigger = lexer.feed(c)
            if trigger is not None and trigger in self.context.triggers:
                before = self.context.prefix + self.generated + text[: i + 1]
                names = self.context.names_at(before, self.context.suffix)
                required = trigger is Trigger.DEREFERENCE or c == "."  # a member name must come; after `import ` not
                pending = Pending(names, "", trigger, required) if names is not None else None
        return lexer, pending, None


def _scan(context: MonitorContext) -> tuple[CodeLexer, Trigger | None, int]:
    return _scan_prefix(context.prefix, context.triggers, context.new_lexer)


@functools.lru_cache(maxsize=4)
def _scan_prefix(prefix: str, triggers: frozenset[Trigger], new_lexer: Callable[[], CodeLexer]) -> tuple[CodeLexer, Trigger | None, int]:
    """The lexer after the prefix, and the last enabled trigger in it with the offset just past it.
    Remembered: `upcoming` (before the prefill) and `start` (after it) scan the same prefix, which
    can be a whole file. The lexer returned is shared, so callers clone it before feeding it."""
    lexer, trigger, at = new_lexer(), None, -1
    for i, c in enumerate(prefix):
        if (t := lexer.feed(c)) is not None and t in triggers:
            trigger, at = t, i + 1
    return lexer, trigger, at
