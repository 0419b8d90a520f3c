"""Drafts for speculation: a tree of proposed continuations, and the interface every drafter has.

A `DraftTree` hangs below the root, the sequence's last token (chosen, not yet run through the
model). Nodes are stored in depth-first order, a node's subtree right after it, first children
first, so the most likely path (the first children, when a drafter lists its best guess first)
occupies the leading slots: accepting it lets the verifier drop the rest of the tree's keys and
values with a crop, no copy.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import torch

ROOT = -1  # the parent index of the root's children


@dataclass(frozen=True)
class DraftTree:
    tokens: tuple[int, ...] = ()
    parents: tuple[int, ...] = ()  # parents[i] < i, or ROOT; depth-first order

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.parents):
            raise ValueError(f"a draft tree needs one parent per token: {len(self.tokens)} tokens, {len(self.parents)} parents")
        for i, parent in enumerate(self.parents):
            if not ROOT <= parent < i:
                raise ValueError(f"node {i} has parent {parent}: parents must come before their children")

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def chain(cls, tokens: Iterable[int]) -> DraftTree:
        tokens = tuple(tokens)
        return cls(tokens, tuple(range(-1, len(tokens) - 1)))

    @classmethod
    def from_paths(cls, paths: Iterable[Sequence[int]], max_nodes: int | None = None) -> DraftTree:
        """The trie of several proposed continuations, earlier paths first; shared prefixes merge.

        max_nodes: stop adding nodes once the tree has this many (later paths are cut first)."""
        trie: dict = {}
        count = 0
        for path in paths:
            level = trie
            for token in path:
                if token not in level:
                    if max_nodes is not None and count >= max_nodes:
                        break
                    level[token] = {}
                    count += 1
                level = level[token]
        tokens: list[int] = []
        parents: list[int] = []

        def walk(level: dict, parent: int) -> None:
            for token, below in level.items():  # dicts keep insertion order: earlier paths first
                tokens.append(token)
                parents.append(parent)
                walk(below, len(tokens) - 1)

        walk(trie, ROOT)
        return cls(tuple(tokens), tuple(parents))

    def paths(self) -> list[list[int]]:
        """Every root-to-leaf path, as tokens, in the tree's order."""
        leaves = [i for i in range(len(self)) if not self.children(i)]
        out = []
        for leaf in leaves:
            path, node = [], leaf
            while node != ROOT:
                path.append(self.tokens[node])
                node = self.parents[node]
            out.append(path[::-1])
        return out

    @cached_property
    def _children(self) -> dict[int, dict[int, int]]:
        table: dict[int, dict[int, int]] = {}
        for i, (token, parent) in enumerate(zip(self.tokens, self.parents)):
            table.setdefault(parent, {}).setdefault(token, i)  # a repeated sibling is never reached
        return table

    def children(self, node: int) -> dict[int, int]:
        """token -> node index, for the children of `node` (ROOT for the root)."""
        return self._children.get(node, {})

    def nodes_along(self, tokens: Sequence[int]) -> list[int]:
        """The node indices of the path that spells `tokens` from the root (KeyError if none does)."""
        nodes, node = [], ROOT
        for token in tokens:
            node = self.children(node)[token]
            nodes.append(node)
        return nodes

    @cached_property
    def depths(self) -> tuple[int, ...]:
        """1 for the root's children, and so on."""
        depths: list[int] = []
        for parent in self.parents:
            depths.append(1 if parent == ROOT else depths[parent] + 1)
        return tuple(depths)

    @property
    def is_chain(self) -> bool:
        return all(parent == i - 1 for i, parent in enumerate(self.parents))

    def visibility(self) -> torch.Tensor:
        """[1 + n, 1 + n] bool: row r sees column c when c is r itself or an ancestor (row/column 0: the root)."""
        n = len(self)
        seen = torch.zeros(n + 1, n + 1, dtype=torch.bool)
        seen[:, 0] = True
        for i, parent in enumerate(self.parents):
            row = i + 1
            seen[row] = seen[parent + 1]
            seen[row, row] = True
        return seen


EMPTY = DraftTree()


@dataclass(frozen=True)
class Verified:
    """What one verification saw, for drafters that learn from it."""

    context: Sequence[int]  # the sequence up to and including the root token
    tree: DraftTree
    logits: torch.Tensor  # [1 + len(tree), vocab]: row 0 after the root, row i + 1 after node i
    path: list[int] = field(default_factory=list)  # the accepted nodes


class Drafter(Protocol):
    """Drafters subclass this. `setup_seconds`: the part of the last `propose` spent catching up on
    context the drafter had not seen (a draft model prefilling the prompt, or the tokens written
    while drafting was off); 0 for drafters that keep no state of their own. That is paid once per
    token of context, not per draft, so the adaptive wrapper does not count it against drafting's
    rate."""

    setup_seconds: float = 0.0

    def propose(self, context: Sequence[int], max_depth: int) -> DraftTree:
        """Continuations proposed after `context` (whose last token is the root), at most `max_depth` deep."""
        ...

    def observe(self, verified: Verified) -> None:
        """Learn from a verification (what the target model computed and what it accepted)."""
        ...
