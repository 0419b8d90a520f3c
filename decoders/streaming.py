"""Streaming text as it is produced, never showing what a stop rule may still take back.

Held back: an incomplete UTF-8 character at the end, a tail that could become a stop string,
and, when the caller has predicates, the last unfinished line (or only its last characters, as
far as the rules' `predicate_reach` says they may cut). Predicates (such as the assistant's
scope rule) must cut only within what is held back, so that everything streamed is a prefix of
the final text.
"""

from __future__ import annotations

from collections.abc import Callable

from .stopping import StopRules

TextSink = Callable[[str], None]


class TextStream:
    def __init__(self, sink: TextSink | None, stop: StopRules):
        self.sink = sink
        self.stop = stop
        self.sent = 0  # characters already passed to the sink

    def _safe_end(self, text: str) -> int:
        end = len(text) - self.stop.pending(text)
        if text[:end].endswith("\ufffd"):  # the rest of this character is in the next token
            end -= 1
        reach = self.stop.predicate_reach
        if self.stop.predicates:
            end = min(end, text.rfind("\n", 0, end) + 1 if reach is None else len(text) - reach)
        return end

    def push(self, text: str) -> None:
        """`text` is everything generated so far (after any cut)."""
        end = self._safe_end(text)
        if self.sink is not None and end > self.sent:
            self.sink(text[self.sent : end])
            self.sent = end

    def finish(self, text: str) -> None:
        assert len(text) >= self.sent, "a stop rule cut text that was already streamed"
        if self.sink is not None and len(text) > self.sent:
            self.sink(text[self.sent :])
        self.sent = len(text)
