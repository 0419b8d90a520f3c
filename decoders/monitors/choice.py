"""Whole-name choice after `obj.`: at the start of a member's name, the member is chosen by the
model's probability of the whole name (its tokens, then the end of the identifier), not token by
token.

Why: token by token, a first token that starts several listed names (`from` for `from_rgb`,
`from_color`, `from_ansi`; `__` for dozens) collects their summed probability and wins, though no
single name behind it is likely (`Style.` -> `from_rgb(` where the source has `Style.parse(`);
and where the model's own first choice is not listed at all, masking keeps what is left of its
distribution, with the same bias (`console.` -> `__exit__()` where the file calls
`console.print()`). Scoring whole names compares like with like. Dunder names (`__class__`,
`__init__`: every object lists them) are candidates only where the model's own first choice
starts one: code rarely reaches for them after a dot, and they would crowd the others out of the
trie's node budget.

How: the names whose first token is among the `top_k` best allowed first tokens go into a trie
(decoders/draft.py's `DraftTree`) of at most `max_nodes` nodes, which one forward pass appends to
the session (each node sees the session and its own ancestors, at the position its depth gives
it). The winner's nodes stay in the cache and the rest are dropped (`Engine.keep`, as after a
verification), so that pass is the one that writes the name: no pass is spent on the choice
itself. Each of the name's tokens is checked against the guides at its step; a guide that
refuses one ends the name there and greedy decoding goes on. The step after a whole name must end
the identifier: where greedy ends it anyway nothing pauses, elsewhere the step pauses and the
best ending token is written.

It is a reranker (decoders/rerank.py), so it decides greedy steps only and is deterministic: the
same sequence gets the same choice with or without speculation. Another reranker (AdaDec) can sit
inside it and decide every other step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..draft import DraftTree
from ..engine import Engine, Session
from ..guides import Guide, apply_mask, guided, names_to_choose, refine
from ..rerank import Reranker, RerankStats, Written


def is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


class NameChoice(Reranker):
    def __init__(
        self,
        engine: Engine,
        encode: Callable[[str], list[int]],  # a name -> its token ids, as the model writes it after "."
        ends: torch.Tensor,  # [vocab] bool: tokens whose first character cannot continue an identifier
        inner: Reranker | None = None,
        top_k: int = 8,
        max_nodes: int = 24,
    ):
        self.engine, self.ends, self.inner = engine, ends, inner
        self.top_k, self.max_nodes = top_k, max_nodes
        self.stats = inner.stats if inner is not None else RerankStats()
        self._encode, self._encoded = encode, {}  # name -> token ids, cached: the same members come back
        self._names: tuple[str, ...] | None = None  # set by `pauses` for the `choose` that follows
        self._ending = False  # a whole name was written: the next step must end the identifier

    def pauses(self, masked: torch.Tensor, guide: Guide | None = None, row: torch.Tensor | None = None) -> bool:
        self._names = None
        if self._ending and self._ends(int(torch.argmax(masked))):
            self._ending = False
            self.stats.steps += 1
            return False  # greedy ends the identifier itself (and speculation may draft it)
        names = names_to_choose(guide) if not self._ending else None
        ours = self._ending or bool(names)
        if not ours and self.inner is not None:
            return self.inner.pauses(masked, guide, row)  # it counts the step
        if names:
            self._names = self._eligible(names, int(torch.argmax(row if row is not None else masked)))
        self.stats.steps += 1
        self.stats.pauses += ours
        return ours

    def choose(self, session: Session, guide: Guide | None) -> int | Written:
        masked = guided(session.next_logits, guide)  # [vocab]
        if self._ending:
            self._ending = False
            ending = apply_mask(masked, self.ends)
            return int(torch.argmax(ending if torch.isfinite(ending.max()) else masked))
        if self._names is None:
            if self.inner is None:
                raise RuntimeError("choose() without a pause")
            return self.inner.choose(session, guide)
        return self._write_best(session, guide, masked, self._names)

    def encode(self, name: str) -> list[int]:
        if (tokens := self._encoded.get(name)) is None:
            tokens = self._encoded[name] = list(self._encode(name))
        return tokens

    def _ends(self, token: int) -> bool:
        return token < self.ends.shape[0] and bool(self.ends[token])

    def _eligible(self, names: tuple[str, ...], first: int) -> tuple[str, ...]:
        """`names` without dunders, unless the model's own first choice (`first`) starts one."""
        if any(is_dunder(n) and self.encode(n)[:1] == [first] for n in names):
            return names
        return tuple(n for n in names if not is_dunder(n)) or names

    def _write_best(self, session: Session, guide: Guide | None, masked: torch.Tensor, names: tuple[str, ...]) -> int | Written:
        """Append the listed name the model most likely writes whole (greedy's token if none qualifies)."""
        greedy = int(torch.argmax(masked))
        paths = self._candidates(masked, names)
        if not paths:
            return greedy
        before = session.next_logits  # [vocab]
        tree = DraftTree.from_paths(paths.values())
        logits = self._append_tree(session, tree)  # [n, vocab]
        logprobs = torch.log_softmax(logits.float(), dim=-1)  # [n, vocab]
        first = torch.log_softmax(before.float(), dim=-1)  # [vocab]

        nodes = {name: tree.nodes_along(tokens) for name, tokens in paths.items()}

        def score(name: str) -> float:
            tokens, path = paths[name], nodes[name]
            total = float(first[tokens[0]]) + sum(float(logprobs[a, t]) for a, t in zip(path, tokens[1:]))
            return total + float(torch.logsumexp(apply_mask(logprobs[path[-1]], self.ends), dim=0))

        order = {name: i for i, name in enumerate(names)}
        best = max(paths, key=lambda name: (score(name), -order[name]))  # ties: the earlier name
        kept = nodes[best][: self._allowed_prefix(guide, before, logits, tree, nodes[best])]
        self.engine.keep(session, tree, kept, logits[kept[-1]] if kept else before)
        self.stats.changed += paths[best][0] != greedy
        if not kept:
            return greedy
        self._ending = len(kept) == len(nodes[best])
        return Written([tree.tokens[i] for i in kept])

    def _allowed_prefix(self, guide: Guide | None, before: torch.Tensor, logits: torch.Tensor, tree: DraftTree, nodes: list[int]) -> int:
        """How many of the path's tokens the guides allow, each at its own step (`before`: [vocab],
        the logits at the first; `logits`: [n, vocab], after each node)."""
        row = before
        for i, node in enumerate(nodes):
            token = tree.tokens[node]
            if not torch.isfinite(guided(row, guide)[token]) or refine(guide, token) is not None:
                return i
            guide = guide.advance(token) if guide is not None else None
            row = logits[node]
        return len(nodes)

    def _candidates(self, masked: torch.Tensor, names: tuple[str, ...]) -> dict[str, list[int]]:
        """name -> tokens, for the names whose first token is among the `top_k` best allowed ones,
        best first token first (shorter names first among equals), while their trie stays within
        `max_nodes`: each node adds to the pass's cost."""
        first = masked.topk(min(self.top_k, masked.shape[-1]))
        rank = {int(t): i for i, (t, v) in enumerate(zip(first.indices, first.values)) if torch.isfinite(v)}
        encoded = [(name, tokens) for name in names if (tokens := self.encode(name)) and tokens[0] in rank]
        encoded.sort(key=lambda item: (rank[item[1][0]], len(item[1])))
        paths: dict[str, list[int]] = {}
        nodes: set[tuple[int, ...]] = set()  # the trie's nodes, as token prefixes
        for name, tokens in encoded:
            new = {tuple(tokens[: i + 1]) for i in range(len(tokens))} - nodes
            if len(nodes) + len(new) > self.max_nodes:
                continue
            nodes |= new
            paths[name] = tokens
        return paths

    def _append_tree(self, session: Session, tree: DraftTree) -> torch.Tensor:
        """Append `tree` below the session's end (each node sees the session and its ancestors, at
        the position its depth gives it); returns [n, vocab] logits after each node. `Engine.keep`
        must follow, to keep one path and drop the rest."""
        cached, n = len(session.tokens), len(tree)
        positions = cached - 1 + torch.tensor(tree.depths)  # [n]: depth 1 right after the session
        visible = torch.cat([torch.ones(n, cached, dtype=torch.bool), tree.visibility()[1:, 1:]], dim=1)  # [n, cached + n]
        logits = self.engine.forward_nodes(session, list(tree.tokens), positions, visible)  # [n, vocab]
        self.stats.extra_passes += 1
        return logits

    def hint(self) -> list[int]:
        return self.inner.hint() if self.inner is not None and not self._ending else []
