"""Drafters: each proposes continuations for the verifier to check (decoders/draft.py has the interface)."""

from .adaptive import AdaptiveDrafter
from .draft_model import DraftModelDrafter
from .ngram import NgramDrafter
from .recycling import TokenRecycling
from .union import UnionDrafter

__all__ = ["AdaptiveDrafter", "DraftModelDrafter", "NgramDrafter", "TokenRecycling", "UnionDrafter", "default_drafter"]


def default_drafter(vocab_size: int, draft_engine=None) -> AdaptiveDrafter:
    """What the product speculates with, drafting only while it pays: n-gram lookup and Token
    Recycling in one tree; with a draft model loaded (an Engine over it), n-gram lookup and that
    model, since Token Recycling's guesses are rarely accepted where a draft model's are and only
    widen the verification (the 1.5B model: README, Speed)."""
    second = DraftModelDrafter(draft_engine) if draft_engine is not None else TokenRecycling(vocab_size)
    return AdaptiveDrafter(UnionDrafter((NgramDrafter(), second)))
