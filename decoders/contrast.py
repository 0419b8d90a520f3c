"""Selective contrastive decoding (USCD-style): at uncertain steps only, subtract what the model
would say without the prompt's examples.

USCD (Wang et al., 2024) builds a "lame" prompt by removing the input-output examples from the
prompt: what the model still predicts without them is noise the examples should have overruled.
At a step the entropy gate flags, the choice is made from

    (1 + alpha) * log p(x | prompt) - alpha * log p(x | lame prompt)

over the plausible tokens only (p(x | prompt) >= beta * max p, the plausibility rule of
contrastive decoding, so a token the model finds unlikely is never promoted), under the guides.
Elsewhere the step is plain greedy. The lame prompt's session follows the generated tokens
lazily: at a pause it catches up on every token since the last one in one forward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .engine import Engine, Session
from .guides import Guide, best_allowed, guided
from .rerank import EntropyGate, check_threshold


@dataclass(frozen=True)
class ContrastConfig:
    threshold: float  # nats, as for AdaDec
    alpha: float = 0.5  # weight of the contrast
    beta: float = 0.1  # plausibility: keep tokens with at least beta times the top probability

    def __post_init__(self) -> None:
        check_threshold(self.threshold)
        if not self.alpha > 0:
            raise ValueError(f"alpha must be positive (0 is greedy decoding), got {self.alpha}")
        if not 0 < self.beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {self.beta}")


class SelectiveContrast(EntropyGate):
    """A reranker (decoders/rerank.py) that contrasts with a lame prompt at uncertain steps."""

    def __init__(self, engine: Engine, config: ContrastConfig, lame_prompt: list[int]):
        if not lame_prompt:
            raise ValueError("the lame prompt is empty")
        super().__init__(config.threshold)
        self.engine, self.config, self.lame_prompt = engine, config, lame_prompt
        self._lame: Session | None = None  # prefilled at the first pause: most completions never pause

    def choose(self, session: Session, guide: Guide | None) -> int:
        lame = self._follow(session.generated)
        # Plausibility is judged under the guides, so the guided top token is always a candidate.
        allowed = guided(session.next_logits, guide)  # [vocab]
        scores = contrast(allowed, lame.next_logits, self.config.alpha, self.config.beta)  # [vocab]
        token = best_allowed(scores, guide, 1)[0]
        self.stats.changed += token != best_allowed(session.next_logits, guide, 1)[0]
        return token

    def _follow(self, generated: list[int]) -> Session:
        """The lame prompt's session, caught up with the tokens generated so far."""
        if self._lame is None:
            self._lame = self.engine.prefill(self.lame_prompt)
            self.stats.extra_passes += 1
        assert self._lame is not None  # a prefill without `cancel` runs to the end
        behind = generated[len(self._lame.generated) :]
        if behind:
            self.engine.extend(self._lame, behind)
            self.stats.extra_passes += 1
        return self._lame


def contrast(logits: torch.Tensor, lame_logits: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """[vocab] contrastive scores; -inf outside the plausible tokens (and wherever `logits` is)."""
    logp = torch.log_softmax(logits.float(), dim=-1)  # [vocab]
    lame = torch.log_softmax(lame_logits.float(), dim=-1)  # [vocab]
    scores = (1 + alpha) * logp - alpha * lame
    plausible = logp >= logp.max() + math.log(beta)
    return scores.masked_fill(~plausible, float("-inf"))
