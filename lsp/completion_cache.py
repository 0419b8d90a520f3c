"""Answers that need no model: the same document text around the cursor as a recent completion
had (an LRU: undo, or going back to where a suggestion was shown)."""

from __future__ import annotations

from collections import OrderedDict


class CompletionCache:
    def __init__(self, size: int = 256):
        self.size = size
        self._recent: OrderedDict[int, str] = OrderedDict()  # hash(prefix, suffix) -> completion

    def recent(self, prefix: str, suffix: str) -> str | None:
        key = hash((prefix, suffix))
        if key in self._recent:
            self._recent.move_to_end(key)
            return self._recent[key]
        return None

    def remember(self, prefix: str, suffix: str, text: str) -> None:
        key = hash((prefix, suffix))
        self._recent[key] = text
        self._recent.move_to_end(key)
        while len(self._recent) > self.size:
            self._recent.popitem(last=False)

    def clear(self) -> None:
        self._recent.clear()
