"""Several continuations of one session, grown side by side: one forward pass per step for all.

The branches share the session as their prefix and live in one fork of its cache. Each new token
is appended after every node so far, at the position its branch's depth gives it, seeing the
prefix and its own branch only; so a pass over k tokens gives the logits k separate sessions
stepping one token each would give (bit for bit where `Engine.exact` holds). Lookahead from k
candidates costs as many passes as the longest lookahead, not k times that.
"""

from __future__ import annotations

import torch

from .engine import Engine, Session


class Branches:
    def __init__(self, engine: Engine, session: Session, count: int):
        if count < 1:
            raise ValueError(f"branches need a count of at least 1, got {count}")
        self.engine = engine
        self.fork = engine.fork(session)  # shares the prefix's keys and values; the session is untouched
        self.prefix = len(session.tokens)  # cache slots of the shared prefix
        self.slots: list[list[int]] = [[] for _ in range(count)]  # cache slots of each branch's nodes
        self.passes = 0

    def grow(self, tokens: dict[int, int]) -> dict[int, torch.Tensor]:
        """Append `tokens[b]` to branch b (for the branches named); the logits after each, [vocab]."""
        order = sorted(tokens)
        used = self.prefix + sum(len(s) for s in self.slots)  # slots in the cache before this pass
        positions = torch.tensor([self.prefix + len(self.slots[b]) for b in order])  # [k]
        visible = torch.zeros(len(order), used + len(order), dtype=torch.bool)  # [k, used + k]
        visible[:, : self.prefix] = True
        for row, branch in enumerate(order):
            visible[row, self.slots[branch]] = True
            visible[row, used + row] = True
        logits = self.engine.forward_nodes(self.fork, [tokens[b] for b in order], positions, visible)  # [k, vocab]
        for row, branch in enumerate(order):
            self.slots[branch].append(used + row)
        self.passes += 1
        return {branch: logits[row] for row, branch in enumerate(order)}
