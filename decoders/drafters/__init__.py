"""Drafters: each proposes continuations for the verifier to check (decoders/draft.py has the interface)."""

from .adaptive import AdaptiveDrafter
from .draft_model import DraftModelDrafter
from .ngram import NgramDrafter
from .recycling import TokenRecycling
from .union import UnionDrafter

__all__ = ["AdaptiveDrafter", "DraftModelDrafter", "NgramDrafter", "TokenRecycling", "UnionDrafter", "default_drafter"]


def default_drafter(vocab_size: int, draft_engine=None) -> AdaptiveDrafter:
    """What the product speculates with: n-gram lookup, Token Recycling and, when a draft model is
    loaded (an Engine over it), that model, in one tree, drafting only while it pays."""
    drafters: list = [NgramDrafter(), TokenRecycling(vocab_size)]
    if draft_engine is not None:
        drafters.append(DraftModelDrafter(draft_engine))
    return AdaptiveDrafter(UnionDrafter(tuple(drafters)))
