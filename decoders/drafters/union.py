"""Several drafters at once: their trees merged into one, the first drafter's paths first."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..draft import Drafter, DraftTree, Verified


@dataclass
class UnionDrafter(Drafter):
    drafters: tuple[Drafter, ...]
    # A verification's cost grows with its width (`guidecode bench passes` measures it): a merged
    # tree is cut to the leading paths' nodes.
    max_nodes: int = 16

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        paths = [path for drafter in self.drafters for path in drafter.propose(context, max_depth).paths()]
        return DraftTree.from_paths(paths, self.max_nodes)

    def observe(self, verified: Verified) -> None:
        for drafter in self.drafters:
            drafter.observe(verified)
