"""Token-level decoding: one stepwise loop over a KV cache, and the plug points around it."""

from .beam import Beam, BeamResult, beam_search
from .engine import Engine, Session
from .guides import Guide, TokenSetGuide
from .loop import CancelFlag, GenerationResult, Plugins, generate
from .sampling import SamplingConfig
from .stopping import StopRules

__all__ = [
    "Beam",
    "BeamResult",
    "CancelFlag",
    "Engine",
    "GenerationResult",
    "Guide",
    "Plugins",
    "SamplingConfig",
    "Session",
    "StopRules",
    "TokenSetGuide",
    "beam_search",
    "generate",
]
