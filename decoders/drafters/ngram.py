"""Context n-gram lookup ("prompt lookup"): code repeats itself, so propose what followed the
last few tokens the previous times they occurred in the prompt or the output.

The longest suffix that occurs earlier wins; its most recent occurrences come first. Up to
`branches` distinct continuations form a tree. Nothing is learned: the context is the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..draft import Drafter, DraftTree, Verified


@dataclass
class NgramDrafter(Drafter):
    max_ngram: int = 4
    min_ngram: int = 2
    depth: int = 8  # tokens per continuation
    branches: int = 2  # distinct continuations per draft
    window: int = 4096  # only the last this many context tokens are searched (bounded cost)

    def __post_init__(self) -> None:
        if not 1 <= self.min_ngram <= self.max_ngram:
            raise ValueError(f"need 1 <= min_ngram <= max_ngram, got {self.min_ngram} and {self.max_ngram}")
        if self.depth < 1 or self.branches < 1:
            raise ValueError(f"depth and branches must be at least 1, got {self.depth} and {self.branches}")

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        depth = min(self.depth, max_depth)
        if depth < 1:
            return DraftTree()
        tokens = np.asarray(context[-self.window :], dtype=np.int64)  # [L]
        continuations: list[tuple[int, ...]] = []
        for n in range(min(self.max_ngram, len(tokens) - 1), self.min_ngram - 1, -1):
            for start in _match_starts(tokens, n):
                follow = tuple(tokens[start + n : start + n + depth].tolist())
                if follow and follow not in continuations:
                    continuations.append(follow)
                if len(continuations) == self.branches:
                    return DraftTree.from_paths(continuations)
        return DraftTree.from_paths(continuations)

    def observe(self, verified: Verified) -> None:
        pass


def _match_starts(tokens: np.ndarray, n: int) -> list[int]:
    """Starts of earlier occurrences of the last `n` tokens, most recent first (not the suffix itself)."""
    windows = np.lib.stride_tricks.sliding_window_view(tokens[:-1], n)  # [L - n, n], excluding the suffix's own place
    hits = np.flatnonzero((windows == tokens[-n:]).all(axis=1))
    return hits[::-1].tolist()
