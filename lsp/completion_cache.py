"""Answers that need no model: the user typed what was proposed (typed-ahead), or asked the same
thing again (an LRU of recent completions)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True)
class Proposal:
    prefix: str  # document text before the cursor when it was proposed
    suffix: str  # and after it
    text: str


class CompletionCache:
    def __init__(self, size: int = 256):
        self.size = size
        self._last: dict[str, Proposal] = {}  # uri -> the latest proposal for that document
        self._recent: OrderedDict[int, str] = OrderedDict()  # hash(prefix, suffix) -> completion

    def typed_ahead(self, uri: str, prefix: str, suffix: str) -> str | None:
        """The rest of the last proposal, if the user has since typed its beginning (and only that)."""
        last = self._last.get(uri)
        if last is None or suffix != last.suffix or not prefix.startswith(last.prefix):
            return None
        typed = prefix[len(last.prefix) :]
        if typed and last.text.startswith(typed) and len(typed) < len(last.text):
            return last.text[len(typed) :]
        return None

    def recent(self, prefix: str, suffix: str) -> str | None:
        key = hash((prefix, suffix))
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        return None

    def remember(self, uri: str, prefix: str, suffix: str, text: str) -> None:
        self._last[uri] = Proposal(prefix, suffix, text)
        key = hash((prefix, suffix))
        self._recent[key] = text
        self._recent.move_to_end(key)
        while len(self._recent) > self.size:
            self._recent.popitem(last=False)

    def forget(self, uri: str) -> None:
        self._last.pop(uri, None)

    def clear(self) -> None:
        self._last.clear()
        self._recent.clear()
