"""Adaptive speculation: draft only while it pays, as measured on this machine, now.

A round is the time from a proposal to the verdict on it: drafting, the verification's forward
pass and acceptance (idle time between requests never counts). The wrapper keeps a running rate of
tokens per second for rounds with a draft and for plain rounds (an empty draft, i.e. a plain
decoding step), and drafts only while drafting's rate is at least the plain rate. While drafting
wins, a plain round every `probe_every` rounds (4 times as many where drafting is 1.5x as fast)
keeps the plain figure current; while it loses, a draft is tried again after `probe_every` rounds,
then twice as many after each try that loses too (up to 32 times as many). So a drafter that stops
paying (no repetition to look up, a draft model that guesses badly) is switched off within a few
rounds and costs ever less to retry. The draft depth follows the recent number of accepted tokens.

A drafter's catch-up on context it had not seen (a draft model's prefill of the prompt) is not
counted against drafting: it is paid once per token, not per round (Drafter.setup_seconds).

What a drafted node costs depends on the machine and the weights (`guidecode bench passes` shows
it: little where a pass's rows share the weights' streaming, much more where bf16 is emulated).
The wrapper measures it (a draft
round's time beyond a plain round's, per node) and cuts drafts to the nodes whose cost, should the
whole draft be rejected, stays within `max_extra_steps` plain rounds; until it is known, drafts
have `min_depth` nodes. A fresh wrapper's first round is plain, so the comparison starts at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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
class AdaptiveDrafter(Drafter):
    inner: Drafter
    max_depth: int = 8
    min_depth: int = 2
    probe_every: int = 8  # rounds between plain rounds (and between retries of a switched-off drafter)
    max_extra_steps: float = 2.0  # what a wholly rejected draft may cost beyond a plain round, in plain rounds
    clock: Callable[[], float] = time.perf_counter
    drafting: _Rate = field(default_factory=_Rate)
    plain: _Rate = field(default_factory=_Rate)
    node_cost: _Rate = field(default_factory=_Rate)  # "tokens" = drafted nodes, seconds = their cost
    depth: int = field(init=False)
    _round: int = 0
    _next_probe: int = 0  # the round of the next probe (plain while on, a draft while off)
    _retry_gap: int = field(init=False)  # rounds to the next retry while off; doubles per losing retry
    _started: float = 0.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_depth <= self.max_depth:
            raise ValueError(f"need 1 <= min_depth <= max_depth, got {self.min_depth} and {self.max_depth}")
        if self.max_extra_steps <= 0:
            raise ValueError(f"max_extra_steps must be positive, got {self.max_extra_steps}")
        self.depth = self.max_depth
        self._retry_gap = self.probe_every

    @property
    def on(self) -> bool:
        return not self.plain.known or not self.drafting.known or self.drafting.per_second >= self.plain.per_second

    @property
    def max_nodes(self) -> int:
        """The most nodes a draft may have here: `max_extra_steps` plain rounds' time in nodes."""
        if not self.plain.known or not self.node_cost.known or self.node_cost.tokens <= 0:
            return self.min_depth
        per_node = self.node_cost.seconds / self.node_cost.tokens
        return max(1, int(self.max_extra_steps * self._plain_round / per_node)) if per_node > 0 else 1 << 30

    @property
    def _plain_round(self) -> float:
        return 1 / self.plain.per_second  # seconds: a plain round writes one token

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        self._started, self._round = self.clock(), self._round + 1
        probe = not self.plain.known or self._round >= self._next_probe
        if probe:
            self._next_probe = self._round + self._gap()
        if self.on == probe:  # when on, probe plain; when off, probe a draft
            return EMPTY
        # The cap bounds the depth asked for too: a draft model pays a forward pass per drafted
        # token, and tokens drafted only to be cut would cost without counting as nodes.
        cap = self.max_nodes
        tree = self.inner.propose(context, min(self.depth, max_depth, cap))
        if len(tree) > cap:
            tree = DraftTree.from_paths(tree.paths(), cap)  # the leading paths, the likeliest, are kept
        return tree

    def _gap(self) -> int:
        if not self.on:
            return self._retry_gap
        # A plain round forgoes a draft's tokens: where drafting clearly wins, check less often.
        return self.probe_every * (4 if self.drafting.per_second >= 1.5 * self.plain.per_second else 1)

    def observe(self, verified: Verified) -> None:
        accepted, nodes = len(verified.path), len(verified.tree)
        # A draft model's catch-up on the prompt (or on what was written while drafting was off)
        # is paid once, not per round: counted, the first round would switch a good drafter off.
        setup = self.inner.setup_seconds if nodes else 0.0
        seconds = max(0.0, self.clock() - self._started - setup)
        was_on = self.on
        (self.drafting if nodes else self.plain).add(1 + accepted, seconds)
        if nodes and self.plain.known:
            self.node_cost.add(nodes, max(0.0, seconds - self._plain_round))
        self.inner.observe(verified)  # after the clock: learning serves later rounds
        if nodes:
            # All accepted: look further next time; few accepted: shorter drafts cost less.
            wanted = accepted + 2 if accepted == max(verified.tree.depths) else accepted + 1
            self.depth = max(self.min_depth, min(self.max_depth, wanted))
            if not was_on:  # a retry: back off further while drafting keeps losing
                self._retry_gap = self.probe_every if self.on else min(2 * self._retry_gap, 32 * self.probe_every)
