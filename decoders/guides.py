"""Guides: per-step constraints on which tokens may come next.

A guide is a value: `allowed()` says which tokens may follow the sequence it has seen, and
`advance(token)` returns the guide for the sequence one token longer, leaving `self` unchanged.
That is what lets speculation and search fork a sequence with its guides for free.

A guide may also override `refine(token)`, for rules too costly to state over the whole
vocabulary in advance (a monitor would have to ask a language server about every token that
contains a "."): after `token` was chosen under `allowed()`, it returns None if the token stands,
else the tokens to remove (`token` among them) before choosing again. `refine` must only ever
remove tokens its full rule disallows; then choosing again is exactly choosing under the full
rule. Guides subclass `Guide`, whose optional methods answer "nothing to add" by default.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import torch


class Guide(Protocol):
    def allowed(self) -> torch.Tensor | None:
        """[vocab] bool, True where the token may come next; None means no constraint."""
        ...

    def advance(self, token: int) -> Guide:
        """The guide after `token` was emitted; `self` is not modified."""
        ...

    def refine(self, token: int) -> torch.Tensor | None:
        """[vocab] bool of tokens to remove because `token` broke a rule checked only on choice;
        None if it stands (the default: every choice under `allowed()` stands)."""
        return None

    def names_to_choose(self) -> tuple[str, ...] | None:
        """The names one of which the guide requires from this step on, whole (an identifier
        starts here that must be one of them; decoders/monitors/choice.py); None if it requires
        none (the default)."""
        return None


def refine(guide: Guide | None, token: int) -> torch.Tensor | None:
    """`guide.refine(token)`, or None without a guide."""
    return guide.refine(token) if guide is not None else None


def names_to_choose(guide: Guide | None) -> tuple[str, ...] | None:
    """`guide.names_to_choose()`, or None without a guide."""
    return guide.names_to_choose() if guide is not None else None


@dataclass(frozen=True)
class TokenSetGuide(Guide):
    """Allows only a fixed set of tokens at every step (e.g. digits and EOS)."""

    mask: torch.Tensor  # [vocab] bool

    @classmethod
    def of(cls, vocab_size: int, token_ids: Iterable[int]) -> TokenSetGuide:
        mask = torch.zeros(vocab_size, dtype=torch.bool)
        ids = list(token_ids)
        if not ids:
            raise ValueError("TokenSetGuide needs at least one allowed token")
        if min(ids) < 0 or max(ids) >= vocab_size:
            raise ValueError(f"token ids must lie in [0, {vocab_size}); got {min(ids)}..{max(ids)}")
        mask[ids] = True
        return cls(mask)

    @classmethod
    def of_characters(cls, tokenizer, characters: str, also: Iterable[int] = ()) -> TokenSetGuide:
        """Tokens whose text is made only of `characters` (plus the ids in `also`, e.g. EOS)."""
        from .vocabulary import Vocabulary

        allowed, vocabulary = set(characters), Vocabulary.from_tokenizer(tokenizer)
        ids = [i for i, text in enumerate(vocabulary.texts) if text and set(text) <= allowed]
        return cls.of(vocabulary.size, [*ids, *also])

    def allowed(self) -> torch.Tensor:
        return self.mask

    def advance(self, token: int) -> TokenSetGuide:
        return self


@dataclass(frozen=True)
class AllOf(Guide):
    """Several guides at once: a token must be allowed by each."""

    guides: tuple[Guide, ...]

    def allowed(self) -> torch.Tensor | None:
        masks = [m for g in self.guides if (m := g.allowed()) is not None]
        if not masks:
            return None
        out = masks[0].clone()
        for m in masks[1:]:
            out &= m
        return out

    def advance(self, token: int) -> AllOf:
        return AllOf(tuple(g.advance(token) for g in self.guides))

    def names_to_choose(self) -> tuple[str, ...] | None:
        """The first member's names to choose among, if one has them."""
        return next((names for g in self.guides if (names := names_to_choose(g)) is not None), None)

    def refine(self, token: int) -> torch.Tensor | None:
        removed = [m for g in self.guides if (m := refine(g, token)) is not None]
        if not removed:
            return None
        out = removed[0].clone()
        for m in removed[1:]:
            out |= m
        return out


def apply_mask(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Logits with disallowed tokens at -inf; never modifies `logits` in place.

    A mask that allows nothing is ignored: a guide that cannot be satisfied must not stop decoding.
    """
    if mask is None or not bool(mask.any()):
        return logits
    mask = mask.to(logits.device)
    vocab = logits.shape[-1]
    # The model's vocabulary may be padded past the tokenizer's (extra ids never allowed), or the
    # tokenizer may know ids the model cannot produce (dropped).
    if mask.shape[-1] < vocab:
        mask = torch.nn.functional.pad(mask, (0, vocab - mask.shape[-1]), value=False)
    return logits.masked_fill(~mask[:vocab], float("-inf"))


def guided(logits: torch.Tensor, guide: Guide | None) -> torch.Tensor:
    """The step's logits ([vocab]) under `guide`'s mask, as the verifier chooses from them."""
    return apply_mask(logits, guide.allowed() if guide is not None else None)


def best_allowed(logits: torch.Tensor, guide: Guide | None, k: int) -> list[int]:
    """Up to `k` tokens the guide allows after `logits` ([vocab]), best first.

    Each is the masked argmax once the ones before it are taken out, and must stand the guide's
    `refine` as the verifier's greedy choice must (decoders/verify.py), so the first is exactly
    the token greedy decoding chooses, including its fallback: when refinement removes
    everything, the last token refused is kept rather than none.
    """
    masked = guided(logits, guide)  # [vocab]
    best: list[int] = []
    while True:
        token = int(torch.argmax(masked))
        removed = refine(guide, token)
        if removed is None:
            best.append(token)
            if len(best) == k:
                return best
            masked = masked.index_fill(0, torch.tensor([token], device=masked.device), float("-inf"))
        else:
            masked = apply_mask(masked, ~removed.to(masked.device))
        if not torch.isfinite(masked.max()):
            return best or [token]
