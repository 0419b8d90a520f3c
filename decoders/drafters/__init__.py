"""Drafters: each proposes continuations for the verifier to check (decoders/draft.py has the interface)."""

from .adaptive import AdaptiveDrafter
from .draft_model import DraftModelDrafter
from .ngram import NgramDrafter
from .recycling import TokenRecycling
from .union import UnionDrafter

__all__ = ["AdaptiveDrafter", "DraftModelDrafter", "NgramDrafter", "TokenRecycling", "UnionDrafter"]
