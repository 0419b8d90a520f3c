"""Several drafters at once: their trees merged into one, the first drafter's paths first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..draft import Drafter, DraftTree, Verified


@dataclass
class UnionDrafter:
    drafters: tuple[Drafter, ...]
    max_nodes: int = 32  # a verification's cost grows with its width; beyond this it stops paying

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        paths = [path for drafter in self.drafters for path in drafter.propose(context, max_depth).paths()]
        return DraftTree.from_paths(paths, self.max_nodes)

    def observe(self, verified: Verified) -> None:
        for drafter in self.drafters:
            drafter.observe(verified)
