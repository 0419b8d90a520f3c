"""Whole-name choice where a monitor overrides the model: after `obj.`, when the model's own first
choice is a member static analysis does not list, the member is chosen by the model's probability
of the whole name (its tokens, then the end of the identifier), not token by token.

Why: masking keeps what is left of the model's distribution once its preferred (non-existent)
member is removed, and a token that starts many listed names (`__`, `get`) collects their summed
mass and wins, though no single name behind it is likely (`console.` -> `__exit__()` where the
file calls `console.print()`). Scoring whole names compares like with like. Where the model's
first choice is allowed, greedy decoding goes on unchanged.

How: the names whose first token is among the `top_k` best allowed first tokens go into a trie
(decoders/draft.py's `DraftTree`) of at most `max_nodes` nodes, which one forward pass scores on a
scratch fork of the session (each node sees the session and its own ancestors, at the position
its depth gives it). The
winner's tokens are then written, and the step after them must end the identifier: where greedy
would write the same token anyway nothing pauses (so speculation drafts through the name),
elsewhere the step pauses and the plan decides it. Each token is checked against the guides
at its step; a guide that refuses one ends the plan and greedy decoding takes that step.

It is a reranker (decoders/rerank.py), so it decides greedy steps only and is deterministic: the
same sequence gets the same choice with or without speculation. Another reranker (AdaDec) can sit
inside it and decide every other step it would.
"""

from __future__ import annotations

from typing import Callable

import torch

from ..draft import ROOT, DraftTree
from ..engine import Engine, Session
from ..guides import Guide, apply_mask, guided, names_to_choose
from ..rerank import Reranker, RerankStats


class NameChoice:
    def __init__(
        self,
        engine: Engine,
        encode: Callable[[str], list[int]],  # a name -> its token ids, as the model writes it after "."
        ends: torch.Tensor,  # [vocab] bool: tokens whose first character cannot continue an identifier
        inner: Reranker | None = None,
        top_k: int = 8,
        max_nodes: int = 48,
    ):
        self.engine, self.encode, self.ends, self.inner = engine, encode, ends, inner
        self.top_k, self.max_nodes = top_k, max_nodes
        self.stats = inner.stats if inner is not None else RerankStats()
        self._names: tuple[str, ...] | None = None  # set by `pauses` for the `choose` that follows
        self._plan: list[int] | None = None  # the chosen name's tokens still to write; [] = end it next

    def pauses(self, masked: torch.Tensor, guide: Guide | None = None, row: torch.Tensor | None = None) -> bool:
        self._names = None
        if self._plan is not None and self._agrees(int(torch.argmax(masked))):
            self.stats.steps += 1
            return False  # greedy writes the plan's token itself (and speculation may draft it)
        names = names_to_choose(guide) if self._plan is None else None
        ours = self._plan is not None or bool(names and row is not None and not torch.isfinite(masked[int(torch.argmax(row))]))
        if not ours and self.inner is not None:
            return self.inner.pauses(masked, guide, row)  # it counts the step
        self._names = names if ours else None
        self.stats.steps += 1
        self.stats.pauses += ours
        return ours

    def choose(self, session: Session, guide: Guide | None) -> int:
        masked = guided(session.next_logits, guide)  # [vocab]
        if self._plan is not None:
            return self._follow(masked)
        if self._names is None:
            if self.inner is None:
                raise RuntimeError("choose() without a pause")
            return self.inner.choose(session, guide)
        tokens = self._best(session, masked, self._names)
        self.stats.changed += tokens[0] != int(torch.argmax(masked))
        self._plan = tokens[1:]
        return tokens[0]

    def _agrees(self, greedy: int) -> bool:
        """Whether greedy's token is the plan's next one (then the plan moves on past it)."""
        plan = self._plan
        if plan:
            if plan[0] != greedy:
                return False
            plan.pop(0)
            return True
        if not (greedy < self.ends.shape[0] and bool(self.ends[greedy])):
            return False
        self._plan = None
        return True

    def _follow(self, masked: torch.Tensor) -> int:
        """The plan's next token, or, once it is written, the best token that ends the identifier."""
        plan = self._plan
        if plan:
            token = plan.pop(0)
            if torch.isfinite(masked[token]):
                return token
        self._plan = None
        ending = apply_mask(masked, self.ends)
        return int(torch.argmax(ending if torch.isfinite(ending.max()) else masked))

    def _best(self, session: Session, masked: torch.Tensor, names: tuple[str, ...]) -> list[int]:
        """The tokens of the listed name the model most likely writes whole (greedy's token if none qualifies)."""
        paths = self._candidates(masked, names)
        if not paths:
            return [int(torch.argmax(masked))]
        tree = DraftTree.from_paths(paths.values())
        logprobs = self._score_tree(session, tree)  # [n, vocab]
        before = torch.log_softmax(session.next_logits.float(), dim=-1)  # [vocab]

        def score(tokens: list[int]) -> float:
            node = tree.children(ROOT)[tokens[0]]
            total = float(before[tokens[0]])
            for token in tokens[1:]:
                total += float(logprobs[node, token])
                node = tree.children(node)[token]
            return total + float(torch.logsumexp(apply_mask(logprobs[node], self.ends), dim=0))

        scores = {name: score(tokens) for name, tokens in paths.items()}
        best = max(paths, key=lambda name: (scores[name], -names.index(name)))  # ties: the earlier name
        return list(paths[best])

    def _candidates(self, masked: torch.Tensor, names: tuple[str, ...]) -> dict[str, list[int]]:
        """name -> tokens, for the names whose first token is among the `top_k` best allowed ones,
        best first token first (shorter names first among equals), while their trie stays within
        `max_nodes`: a token such as `__` starts dozens of names, and the pass costs per node."""
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

    def _score_tree(self, session: Session, tree: DraftTree) -> torch.Tensor:
        """[n, vocab] log-probabilities after each node of `tree`, hung below the session's end."""
        fork = self.engine.fork(session)  # scratch: the session's cache is not touched
        cached, n = len(session.tokens), len(tree)
        positions = cached - 1 + torch.tensor(tree.depths)  # [n]: depth 1 right after the session
        visible = torch.cat([torch.ones(n, cached, dtype=torch.bool), tree.visibility()[1:, 1:]], dim=1)  # [n, cached + n]
        logits = self.engine.forward_nodes(fork, list(tree.tokens), positions, visible)  # [n, vocab]
        self.stats.extra_passes += 1
        return torch.log_softmax(logits.float(), dim=-1)

    def hint(self) -> list[int]:
        return self.inner.hint() if self.inner is not None and hasattr(self.inner, "hint") and self._plan is None else []
