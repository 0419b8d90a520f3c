"""Drafters: each proposes continuations for the verifier to check (decoders/draft.py has the interface)."""

from .adaptive import AdaptiveDrafter
from .draft_model import DraftModelDrafter
from .ngram import NgramDrafter
from .recycling import TokenRecycling
from .union import UnionDrafter

__all__ = ["AdaptiveDrafter", "DraftModelDrafter", "NgramDrafter", "TokenRecycling", "UnionDrafter", "default_drafter"]


def default_drafter(draft_engine=None) -> AdaptiveDrafter:
    """What the product speculates with, drafting only while it pays: n-gram lookup; with a draft
    model loaded (an Engine over it), n-gram lookup and that model in one tree. Token Recycling is
    not in it: its 17-node trees are rarely accepted (0.3-0.4 tokens a pass) and a pass's cost grows
    with its rows in the engine's exact kernel, so adding it made the default slower than n-gram
    lookup alone on every workload (docs/speed.md)."""
    if draft_engine is None:
        return AdaptiveDrafter(NgramDrafter())
    return AdaptiveDrafter(UnionDrafter((NgramDrafter(), DraftModelDrafter(draft_engine))))
