"""Adaptive speculation: draft only while it pays, as measured on this machine, now.

A round is the time from a proposal to the verdict on it: drafting, the verification's forward
pass and acceptance (idle time between requests never counts). The wrapper keeps a running rate of tokens per second for rounds with
a draft and for plain rounds (an empty draft, i.e. a plain decoding step), runs a plain round
every `probe_every` rounds (4 times as many where drafting is 1.5x as fast) to keep the plain
figure current, and drafts only while drafting's
rate is at least the plain rate. So a drafter that stops paying (no repetition to look up, a
draft model that guesses badly) is switched off within a few rounds, and tried again later.
The draft depth follows the recent number of accepted tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

from ..draft import EMPTY, Drafter, DraftTree, Verified


@dataclass
class _Rate:
    tokens: float = 0.0
    seconds: float = 0.0
    decay: float = 0.9  # recent rounds weigh more: the text being written changes

    def add(self, tokens: int, seconds: float) -> None:
        self.tokens = self.tokens * self.decay + tokens
        self.seconds = self.seconds * self.decay + seconds

    @property
    def known(self) -> bool:
        return self.seconds > 0

    @property
    def per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass
class AdaptiveDrafter:
    inner: Drafter
    max_depth: int = 8
    min_depth: int = 2
    probe_every: int = 8  # rounds between plain rounds (and between retries of a switched-off drafter)
    drafting: _Rate = field(default_factory=_Rate)
    plain: _Rate = field(default_factory=_Rate)
    depth: int = field(init=False)
    _round: int = 0
    _started: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise ValueError(f"need 1 <= min_depth <= max_depth, got {self.min_depth} and {self.max_depth}")
        self.depth = self.max_depth

    @property
    def on(self) -> bool:
        return not self.plain.known or not self.drafting.known or self.drafting.per_second >= self.plain.per_second

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        self._started, self._round = time.perf_counter(), self._round + 1
        # A plain round forgoes a draft's tokens: where drafting clearly wins, check less often.
        every = self.probe_every * (4 if self.drafting.per_second >= 1.5 * self.plain.per_second else 1)
        probe = self._round % every == 0
        draft = self.on != probe  # when on, probe plain; when off, probe a draft
        return self.inner.propose(context, min(self.depth, max_depth)) if draft else EMPTY

    def observe(self, verified: Verified) -> None:
        accepted = len(verified.path)
        rate = self.drafting if len(verified.tree) else self.plain
        rate.add(1 + accepted, time.perf_counter() - self._started)
        self.inner.observe(verified)  # after the clock: learning serves later rounds
        if len(verified.tree):
            # All accepted: look further next time; few accepted: shorter drafts cost less.
            wanted = accepted + 2 if accepted == max(verified.tree.depths) else accepted + 1
            self.depth = max(self.min_depth, min(self.max_depth, wanted))
