"""A smaller model that shares the target's tokenizer drafts greedily (e.g. the 0.5B model for the 1.5B).

The drafter keeps its own session and reuses its keys and values from one round to the next:
the accepted part of its last draft is already in its cache. It stops drafting early where it is
unsure (its top probability below `min_confidence`), since a guess it doubts is rarely accepted
and every drafted token costs one of its forward passes.

Drafting is itself sped up by a cheaper drafter (`lookup`, n-gram lookup by default): where the
text repeats, the draft model checks the lookup's guess for its next tokens in one forward pass and
keeps the part that equals its own greedy choices, instead of one pass per token. On a batch-invariant
engine (decoders/invariant.py) a pass over several tokens gives the logits of single steps bit
for bit, so the draft is exactly the one stepping token by token would give; only cheaper.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..draft import Drafter, DraftTree, Verified
from ..engine import Engine, Session
from .ngram import NgramDrafter


@dataclass
class DraftModelDrafter(Drafter):
    engine: Engine  # over the draft model
    depth: int = 4
    min_confidence: float = 0.4
    lookup: Drafter | None = field(default_factory=lambda: NgramDrafter(branches=1))  # guesses the draft model checks in one pass; only its first path is used
    session: Session | None = field(default=None, repr=False)
    setup_seconds: float = 0.0  # of the last propose, catching up on the context (Drafter's note)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        if not 0 <= self.min_confidence < 1:
            raise ValueError(f"min_confidence must be in [0, 1), got {self.min_confidence}")

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        depth = min(self.depth, max_depth)
        if depth < 1:
            return DraftTree()
        start = time.perf_counter()
        self.session = session = self.engine.prefill(list(context), reuse=self.session)
        assert session is not None  # a prefill without `cancel` runs to the end
        self.setup_seconds = time.perf_counter() - start
        drafted: list[int] = []
        while len(drafted) < depth:
            token = self._choice(session.next_logits, first=not drafted)
            if token is None:
                break
            drafted.append(token)
            if len(drafted) < depth:
                drafted += self._advance(session, context, drafted, depth)
        return DraftTree.chain(drafted)  # _advance never takes more than depth allows

    def _choice(self, logits: torch.Tensor, first: bool) -> int | None:
        """The draft model's greedy token after `logits` ([vocab]); None where it is unsure (never first)."""
        probs = torch.softmax(logits, dim=-1)  # [vocab]
        confidence, token = torch.max(probs, dim=-1)
        return None if float(confidence) < self.min_confidence and not first else int(token)

    def _advance(self, session: Session, context: Sequence[int], drafted: list[int], depth: int) -> list[int]:
        """Run the last drafted token, with the lookup's guess after it in the same pass; returns
        the guessed tokens the draft model would have chosen itself (the session then ends with
        them, its `next_logits` after the last)."""
        guess = self._guess([*context, *drafted], depth - len(drafted))
        if not guess:
            self.engine.step(session, drafted[-1])
            return []
        logits = self.engine.extend(session, [drafted[-1], *guess])  # [1 + len(guess), vocab]
        taken: list[int] = []
        for row, token in zip(logits, guess):  # row i: the distribution guess[i] must be the choice of
            if self._choice(row, first=False) != token:
                break
            taken.append(token)
        self.engine.rollback(session, len(guess) - len(taken), logits[len(taken)])
        return taken

    def _guess(self, sequence: list[int], most: int) -> list[int]:
        if self.lookup is None or most < 1:
            return []
        paths = self.lookup.propose(sequence, most).paths()
        return list(paths[0][:most]) if paths else []

    def observe(self, verified: Verified) -> None:
        pass  # the next propose() keeps what its session shares with the accepted sequence
