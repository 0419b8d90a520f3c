"""Drafters: each proposes continuations for the verifier to check (decoders/draft.py has the interface)."""

from .adaptive import AdaptiveDrafter
from .draft_model import DraftModelDrafter
from .ngram import NgramDrafter
from .recycling import TokenRecycling
from .union import UnionDrafter

__all__ = ["AdaptiveDrafter", "DraftModelDrafter", "NgramDrafter", "TokenRecycling", "UnionDrafter", "default_drafter"]


def default_drafter(draft_engine=None) -> AdaptiveDrafter:
    """What the product speculates with, drafting only while it pays: n-gram lookup; with a draft
    model loaded (an Engine over it), that model, which itself checks n-gram lookup's guesses where
    the text repeats. No union: merged trees are wider, and the wrapper cuts them to their leading
    nodes, so a union of n-gram lookup and the draft model kept n-gram's rejected guesses, dropped
    the draft model's and was switched off (0.00-0.05 tokens accepted a pass against 3.4-3.6 for
    the draft model alone, 1.5B target). Token Recycling is not in it: its 17-node trees are rarely
    accepted (0.2-0.4 tokens a pass) and a pass's cost grows with its rows in the engine's exact
    kernel, so adding it made the default slower than n-gram lookup alone on every workload
    (benchmarks/results/speed-amx-xeon-*.json)."""
    if draft_engine is None:
        return AdaptiveDrafter(NgramDrafter())
    return AdaptiveDrafter(DraftModelDrafter(draft_engine))
