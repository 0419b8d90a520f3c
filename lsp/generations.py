"""A generation in flight, as the requests that follow it see it.

While the user types, each keystroke asks for a completion at a new cursor. When the characters
typed since a generation started are exactly what it has written (or may still write), the
generation is not cancelled: it is re-targeted, and the answer is the rest of its output. Only a
keystroke that disagrees with it cancels it.

Invariant (nothing typed is ever contradicted): an answer is `written[len(typed):]` of a
generation whose prefix the document's prefix extends by `typed`, whose text starts with `typed`,
and whose suffix is the document's suffix.
"""

from __future__ import annotations

import asyncio
import enum
import threading
import time
from dataclasses import dataclass, field


class TimedCancel(threading.Event):
    """A cancel flag that remembers when it was set, to measure how fast a generation stops."""

    set_at: float | None = None

    def set(self) -> None:
        if self.set_at is None:
            self.set_at = time.perf_counter()
        super().set()


class Verdict(enum.Enum):
    AGREES = "agrees"  # what was typed is the beginning of the generation's text
    UNDECIDED = "undecided"  # the text so far is the beginning of what was typed: it may still agree
    DISAGREES = "disagrees"


def showable(rest: str) -> str:
    """The part of a running generation's rest worth showing now: all of it but trailing blanks
    (a word still being written shows as far as it goes; the refresh shows the rest)."""
    return rest.rstrip() if rest.strip() else ""


@dataclass
class Generation:
    """One model generation for one document (created and read on the event loop's thread)."""

    uri: str
    prefix: str  # the document before the cursor when it started
    suffix: str  # and after it
    origin: str  # "request" (a keystroke asked) or "lookahead" (precomputed after an accept)
    cancel: TimedCancel = field(default_factory=TimedCancel)
    text: str = ""  # what the stream released so far: the beginning of the final text
    final: str | None = None  # the completion as it will be inserted, once finished (None if cancelled)
    done: bool = False
    scope: str = ""  # "line" or "block", once finished
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def running(self) -> bool:
        return not self.done

    def grow(self, chunk: str) -> None:
        self.text += chunk
        self._wake()

    def finish(self, final: str | None, scope: str = "") -> None:
        self.final, self.scope, self.done = final, scope, True
        self._wake()

    def poke(self) -> None:
        """Wake the requests following this generation (a newer request came)."""
        self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self) -> None:
        await self._changed.wait()

    def verdict(self, prefix: str, suffix: str) -> tuple[Verdict, str]:
        """Whether a cursor with `prefix` before it and `suffix` after it follows this generation,
        and if it agrees, the rest of the generation's text after what was typed."""
        if suffix != self.suffix or not prefix.startswith(self.prefix) or (self.done and self.final is None):
            return Verdict.DISAGREES, ""
        typed = prefix[len(self.prefix) :]
        known = self.final if self.final is not None else self.text
        if known.startswith(typed):
            return Verdict.AGREES, known[len(typed) :]
        if self.running and typed.startswith(known):
            return Verdict.UNDECIDED, ""
        return Verdict.DISAGREES, ""


@dataclass
class Rhythm:
    """The typing rhythm of one document: the gaps between its recent keystrokes."""

    gaps: list[float] = field(default_factory=list)  # seconds, the latest last
    last: float | None = None
    keep: int = 16
    pause: float = 1.5  # a gap longer than this is a pause, not the rhythm

    def keystroke(self, at: float) -> None:
        if self.last is not None and (gap := at - self.last) < self.pause:
            self.gaps = [*self.gaps[-(self.keep - 1) :], gap]
        self.last = at

    def debounce(self, longest: float) -> float:
        """How long to wait before generating: half the usual gap between keystrokes (a request
        made mid-word is then mostly superseded before it costs anything, and one at a pause
        waits little), at most `longest`; `longest` until a few keystrokes were seen."""
        if len(self.gaps) < 4:
            return longest
        usual = sorted(self.gaps)[len(self.gaps) // 2]
        return min(longest, usual / 2)
