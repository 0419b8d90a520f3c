"""Sampling settings and the distribution sampling draws from (temperature and top-p); the
verifier (decoders/verify.py) makes every choice, greedy or sampled, from these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingConfig:
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def derive_seed(*parts: object) -> int:
    """A seed fixed by `parts` (a run's seed, a task, an index...): 63 bits of their sha256, any torch seed."""
    digest = hashlib.sha256("\0".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def make_generator(config: SamplingConfig) -> torch.Generator | None:
    if config.greedy:
        return None
    generator = torch.Generator()  # on the CPU: the same seed gives the same tokens on any device
    generator.manual_seed(config.seed if config.seed is not None else torch.seed())
    return generator


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of tokens whose probability reaches top_p; the rest go to -inf.

    The set is found among the most likely tokens (64 first, then 8 times more until their mass
    reaches top_p): a full sort of a 150k vocabulary costs more than a forward pass's share
    when several samples are decoded side by side."""
    if top_p >= 1.0:
        return logits
    probs = torch.softmax(logits.float(), dim=-1)  # [vocab]
    k = min(64, probs.numel())
    while True:
        top, order = torch.topk(probs, k)  # [k], most likely first
        cumulative = top.cumsum(dim=-1)
        if cumulative[-1] >= top_p or k == probs.numel():
            break
        k = min(k * 8, probs.numel())
    keep = torch.zeros_like(probs, dtype=torch.bool).scatter(0, order, cumulative - top < top_p)  # the first always stays
    return logits.masked_fill(~keep, float("-inf"))


def probabilities(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """The distribution sampling draws from, [vocab] float32."""
    return torch.softmax(top_p_filter(logits.float() / config.temperature, config.top_p), dim=-1)
