"""guidecode's front door: configuration, model loading, prompts, cursor context and the Assistant."""

from .assistant import Assistant, Completion, GeneratedFunction
from .config import AssistantConfig
from .errors import GuidecodeError

__all__ = ["Assistant", "AssistantConfig", "Completion", "GeneratedFunction", "GuidecodeError"]
