"""What the decoding loop asks of a reranker, and the entropy gate every one of ours shares.

A reranker decides the steps it finds uncertain: the loop (and the verifier, inside a drafted
path) asks `pauses(masked, guide, row)` with each step's guided logits, the guide there and the
step's own logits, and at a step that pauses, asks
`choose(session, guide)` for the token, or for a `Written` run of tokens it already appended to
the session (the whole-name choice's pass computes them: decoders/monitors/choice.py). Its decisions depend only on the step's logits and on
what the model computes deterministically from the session, so speculation stays lossless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from .engine import Session
from .guides import Guide


def entropies(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats of softmax over the last axis, in float32: [..., vocab] -> [...].
    A -inf logit (a token a guide rules out) adds 0, not nan."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # [..., vocab]
    return -(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1)


def entropy(masked: torch.Tensor) -> float:
    """The entropy of one step's guided logits ([vocab]), in nats."""
    return float(entropies(masked))


@dataclass
class RerankStats:
    steps: int = 0  # decisions seen (pauses and plain steps)
    pauses: int = 0
    changed: int = 0  # pauses whose choice was not greedy's first choice
    extra_passes: int = 0  # forward passes spent deciding (lookaheads, a second prompt)

    @property
    def pause_share(self) -> float:
        return self.pauses / self.steps if self.steps else 0.0


@dataclass(frozen=True)
class Written:
    """A reranker's choice that is already in the session: `tokens` are in its cache, and
    `session.next_logits` are the logits after the last of them."""

    tokens: list[int]


class Reranker(Protocol):
    stats: RerankStats

    def pauses(self, masked: torch.Tensor, guide: Guide | None = None, row: torch.Tensor | None = None) -> bool:
        """Whether the step whose guided logits are `masked` ([vocab]) is the reranker's to decide."""
        ...

    def choose(self, session: Session, guide: Guide | None) -> int | Written:
        """The token for the paused step (or tokens already written into the session)."""
        ...

    def hint(self) -> list[int]:
        """Tokens the reranker saw follow its last choice, for the loop to draft next (verified
        like any draft); the default: none."""
        return []


def check_threshold(threshold: float) -> None:
    if not threshold >= 0:
        raise ValueError(f"the entropy threshold must be >= 0 nats, got {threshold}")


class EntropyGate(Reranker):
    """Pauses where the guided distribution's entropy is above `threshold` nats (learned per
    model by `guidecode calibrate`): where greedy's first choice is likely wrong. The rerankers
    built on it say how they choose."""

    def __init__(self, threshold: float):
        check_threshold(threshold)
        self.threshold = threshold
        self.stats = RerankStats()

    def pauses(self, masked: torch.Tensor, guide: Guide | None = None, row: torch.Tensor | None = None) -> bool:
        self.stats.steps += 1
        uncertain = entropy(masked) > self.threshold
        self.stats.pauses += uncertain
        return uncertain
