"""Uncertainty-adaptive reranking (AdaDec): think harder only where the model is unsure.

At a step whose guided next-token distribution has Shannon entropy above a threshold learned
per model (`guidecode calibrate`), decoding pauses: each of the top-k allowed candidates is
extended by a greedy lookahead on a fork of the session (the KV cache is shared, never
re-encoded; the candidates grow side by side, one forward pass per lookahead step for all), each continuation is scored by the model's mean log-probability, and the best
candidate is taken. Below the threshold the step is plain greedy, at plain cost.

A lookahead may instead run to a boundary (the end of a statement, or of the whole answer), and
pauses may be kept to some places (where a statement begins): both read the text written so far.
The decision at a step depends only on that step's logits, that text and lookaheads that the model
computes deterministically, so speculation stays lossless underneath: the verifier stops at the
first uncertain position of a drafted path (decoders/verify.py), the reranker decides it, and
the output is the one decoding step by step gives (a test states this, token for token).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .branches import Branches
from .engine import Engine, Session
from .guides import Guide, best_allowed, guided  # noqa: F401 (guided: re-exported)
from .rerank import EntropyGate, check_threshold, entropy  # noqa: F401 (entropy: re-exported for callers of this module)

SCORINGS = ("mean", "sum", "min")
# (text generated before the pause, the lookahead's text so far) -> whether the lookahead has
# reached a boundary where it stops early (e.g. the end of a statement: assistant/lookahead.py).
Boundary = Callable[[str, str], bool]
# (text generated before the step) -> whether a step there may be decided by looking ahead.
Place = Callable[[str], bool]


@dataclass(frozen=True)
class AdaDecConfig:
    threshold: float  # nats: a step pauses when its guided entropy is above this
    top_k: int = 3  # candidates looked ahead from at a pause
    lookahead: int = 5  # tokens per candidate, the candidate included (with a boundary: at most)
    scoring: str = "mean"  # of the lookahead's log-probabilities: mean, sum or min

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        if self.top_k < 2:
            raise ValueError(f"top_k must be at least 2 (with one candidate there is nothing to rerank), got {self.top_k}")
        if self.lookahead < 1:
            raise ValueError(f"lookahead must be at least 1 token, got {self.lookahead}")
        if self.scoring not in SCORINGS:
            raise ValueError(f"unknown scoring {self.scoring!r}; choose from {', '.join(SCORINGS)}")


@dataclass(frozen=True)
class Lookahead:
    token: int  # the candidate
    tokens: tuple[int, ...]  # the candidate and its greedy continuation
    logprobs: tuple[float, ...]  # the model's log-probability of each
    score: float


class AdaDec(EntropyGate):
    """A reranker (decoders/rerank.py): at a pause, the candidate whose lookahead scores best."""

    def __init__(self, engine: Engine, config: AdaDecConfig, eos_token_ids: frozenset[int] = frozenset(),
                 boundary: Boundary | None = None, decode: Callable[[list[int]], str] | None = None,
                 place: Place | None = None):  # fmt: skip
        if (boundary is not None or place is not None) and decode is None:
            raise ValueError("a lookahead boundary or a place to pause needs `decode` (token ids -> text) to see the text")
        super().__init__(config.threshold)
        self.engine, self.config, self.eos = engine, config, eos_token_ids
        self.boundary, self.decode, self.place = boundary, decode, place
        self.last: list[Lookahead] = []  # the latest pause's lookaheads, for tests and reports
        self._hint: list[int] = []

    def choose(self, session: Session, guide: Guide | None) -> int:
        """The token to take at a pause: `session` ends where the step is (its `next_logits`
        are the step's), `guide` is the guide there. `session` is left as it was."""
        candidates = best_allowed(session.next_logits, guide, self.config.top_k)
        needs_text = self.boundary is not None or self.place is not None
        before = self.decode(session.generated) if needs_text and self.decode is not None else ""
        if self.place is not None and not self.place(before):
            self.stats.pauses -= 1  # uncertain, but not a place to look ahead: greedy's step
            self.last = []
            return candidates[0]
        self.last = self._look_ahead(session, guide, candidates, before)
        best = max(self.last, key=lambda look: look.score)  # the first (greedy's) wins ties
        self.stats.changed += best.token != candidates[0]
        self._hint = list(best.tokens[1:])
        return best.token

    def hint(self) -> list[int]:
        """The winner's lookahead after it, once: the loop drafts it (verified like any draft,
        so nothing changes but the number of forward passes)."""
        hint, self._hint = self._hint, []
        return hint

    def _look_ahead(self, session: Session, guide: Guide | None, candidates: list[int], before: str) -> list[Lookahead]:
        """Each candidate's greedy continuation under the guides, all grown side by side."""
        branches = Branches(self.engine, session, len(candidates))
        tokens = [[c] for c in candidates]
        logprobs = [[_logprob(session.next_logits, c)] for c in candidates]
        guides = [guide.advance(c) if guide is not None else None for c in candidates]
        live = [b for b in range(len(candidates)) if not self._ended(before, tokens[b])]
        while live:
            rows = branches.grow({b: tokens[b][-1] for b in live})  # b -> [vocab]
            for b, row in rows.items():
                token = best_allowed(row, guides[b], 1)[0]
                tokens[b].append(token)
                logprobs[b].append(_logprob(row, token))
                current = guides[b]
                guides[b] = current.advance(token) if current is not None else None
            live = [b for b in live if not self._ended(before, tokens[b])]
        self.stats.extra_passes += branches.passes
        scoring = self.config.scoring
        return [Lookahead(t[0], tuple(t), tuple(lp), _score(lp, scoring)) for t, lp in zip(tokens, logprobs)]

    def _ended(self, before: str, tokens: list[int]) -> bool:
        if len(tokens) >= self.config.lookahead or tokens[-1] in self.eos:
            return True
        return self.boundary is not None and self.decode is not None and self.boundary(before, self.decode(tokens))


def _logprob(logits: torch.Tensor, token: int) -> float:
    """The model's own log-probability of `token` (guides choose, the model scores, as beam search does)."""
    return float(torch.log_softmax(logits.float(), dim=-1)[token])


def _score(logprobs: list[float], scoring: str) -> float:
    if scoring == "sum":
        return math.fsum(logprobs)
    if scoring == "min":
        return min(logprobs)
    return math.fsum(logprobs) / len(logprobs)
