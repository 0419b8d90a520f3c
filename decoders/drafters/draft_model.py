"""A smaller model that shares the target's tokenizer drafts greedily (e.g. the 0.5B model for the 1.5B).

The drafter keeps its own session and reuses its keys and values from one round to the next:
the accepted part of its last draft is already in its cache. It stops drafting early where it is
unsure (its top probability below `min_confidence`), since a guess it doubts is rarely accepted
and every drafted token costs one of its forward passes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from ..draft import DraftTree, Verified
from ..engine import Engine, Session


@dataclass
class DraftModelDrafter:
    engine: Engine  # over the draft model
    depth: int = 4
    min_confidence: float = 0.4
    session: Session | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be at least 1, got {self.depth}")
        if not 0 <= self.min_confidence < 1:
            raise ValueError(f"min_confidence must be in [0, 1), got {self.min_confidence}")

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        depth = min(self.depth, max_depth)
        if depth < 1:
            return DraftTree()
        self.session = session = self.engine.prefill(list(context), reuse=self.session)
        drafted: list[int] = []
        while len(drafted) < depth:
            probs = torch.softmax(session.next_logits, dim=-1)  # [vocab]
            confidence, token = torch.max(probs, dim=-1)
            if float(confidence) < self.min_confidence and drafted:
                break
            drafted.append(int(token))
            if len(drafted) < depth:
                self.engine.step(session, int(token))
        return DraftTree.chain(drafted)

    def observe(self, verified: Verified) -> None:
        pass  # the next propose() keeps what its session shares with the accepted sequence
