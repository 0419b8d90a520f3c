"""When to stop: a token budget, end-of-sequence tokens, stop strings and a caller's predicate.

Text rules share one shape, a `TextStop`: given the text generated so far, return the length of
text to keep if decoding should stop now, else None. Stop strings are one such rule; the
assistant's scope rule (stop where the block ends) is another.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

TextStop = Callable[[str], "int | None"]
StopReason = Literal["eos", "max_tokens", "stop", "cancelled"]


@dataclass(frozen=True)
class Taken:
    """What one chosen token did to a sequence."""

    text: str  # the sequence's text with the token (without it, after EOS), cut where a text rule said
    reason: StopReason | None  # why the sequence ends here, or None


@dataclass(frozen=True)
class StopRules:
    max_new_tokens: int = 128
    eos_token_ids: frozenset[int] = frozenset()
    stop_strings: tuple[str, ...] = ()
    predicates: tuple[TextStop, ...] = field(default=())
    # How far back from the end of the text a predicate may cut once it sees more of it: None,
    # anywhere in the last line (held back from streaming until the line ends); k, only within
    # the last k characters of the text it was last shown (a one-line scope's bracket rules look
    # at most a character ahead), so a line streams as it is written.
    predicate_reach: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if any(not s for s in self.stop_strings):
            raise ValueError("stop strings must not be empty")
        if self.predicate_reach is not None and self.predicate_reach < 0:
            raise ValueError(f"predicate_reach must be >= 0 or None, got {self.predicate_reach}")

    def cut(self, text: str) -> int | None:
        """Where to cut `text` if a text rule says stop; the earliest cut wins."""
        cuts = [i for s in self.stop_strings if (i := text.find(s)) >= 0]
        cuts += [i for p in self.predicates if (i := p(text)) is not None]
        return min(cuts) if cuts else None

    def take(self, decode: Callable[[list[int]], str], tokens: list[int], token: int) -> Taken:
        """The checks every decoder makes on a chosen `token` after `tokens`, in this order: an
        EOS ends the sequence without being emitted, then a text rule's cut, then the budget."""
        if token in self.eos_token_ids:
            return Taken(decode(tokens), "eos")
        text = decode([*tokens, token])
        if (cut := self.cut(text)) is not None:
            return Taken(text[:cut], "stop")
        return Taken(text, "max_tokens" if len(tokens) + 1 >= self.max_new_tokens else None)

    def pending(self, text: str) -> int:
        """Length of the tail of `text` that could still grow into a stop string (held back from streaming)."""
        longest = 0
        for s in self.stop_strings:
            for k in range(min(len(s) - 1, len(text)), longest, -1):
                if text.endswith(s[:k]):
                    longest = k
                    break
        return longest
