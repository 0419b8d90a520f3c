"""Token Recycling: the target model's own runners-up, remembered per token, become drafts.

Every verification computes logits after every token it ran; their top-k is what the model
thought could follow that token. An adjacency table keeps, for each token id, the top-k of the
latest time it was seen ([vocab, k] int32: 151,936 x 8 x 4 bytes = 4.9 MB for Qwen2.5). A
draft expands the last token breadth-first along a fixed tree template of ranks (the best
candidate of the best candidate, and so on, wider near the root). The table lives as long as
the drafter, across requests of one model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from ..draft import Drafter, DraftTree, Verified

# Paths of candidate ranks from the root: (0,) is the best candidate after the root, (0, 1) the
# runner-up after that, ... Wide near the root, a long spine of best guesses (where acceptance is).
DEFAULT_TEMPLATE: tuple[tuple[int, ...], ...] = (
    (0, 0, 0, 0, 0, 0),
    (0, 0, 0, 1),
    (0, 0, 1),
    (0, 1, 0),
    (1, 0, 0),
    (2, 0),
    (0, 2),
    (3,),
)  # 17 nodes: each drafted node adds to a verification's cost


@dataclass
class TokenRecycling(Drafter):
    vocab_size: int
    top_k: int = 8
    template: tuple[tuple[int, ...], ...] = DEFAULT_TEMPLATE
    table: torch.Tensor = field(init=False, repr=False)  # [vocab, top_k] int32, -1 = not seen yet

    def __post_init__(self) -> None:
        if self.top_k < 1 + max(max(path) for path in self.template):
            raise ValueError(f"top_k={self.top_k} is smaller than the template's largest rank + 1")
        self.table = torch.full((self.vocab_size, self.top_k), -1, dtype=torch.int32)

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        paths = []
        for ranks in self.template:
            path, token = [], context[-1]
            for rank in ranks[:max_depth]:
                if not 0 <= token < self.vocab_size:
                    break
                token = int(self.table[token, rank])
                if token < 0:
                    break
                path.append(token)
            if path:
                paths.append(path)
        return DraftTree.from_paths(paths)

    def observe(self, verified: Verified) -> None:
        # Rows of the tokens that stay (the root and the accepted path): a top-k over the whole
        # vocabulary is not free, and rows after rejected nodes describe contexts that never happened.
        rows = [0, *(i + 1 for i in verified.path)]
        ran = torch.tensor([verified.context[-1], *(verified.tree.tokens[i] for i in verified.path)])  # [rows]
        logits = verified.logits[rows, : self.vocab_size]  # [rows, vocab]
        top = torch.topk(logits, self.top_k, dim=-1).indices.to(torch.int32).cpu()  # [rows, top_k]
        keep = ran < self.vocab_size
        self.table[ran[keep]] = top[keep]
