"""guidecode's front door: configuration, model loading, prompts, cursor context and the Assistant."""

from typing import TYPE_CHECKING

from .config import AssistantConfig
from .errors import GuidecodeError

if TYPE_CHECKING:  # at run time __getattr__ imports them on first use
    from .assistant import Assistant, Completion, GeneratedFunction

__all__ = ["Assistant", "AssistantConfig", "Completion", "GeneratedFunction", "GuidecodeError"]


def __getattr__(name: str):
    # The Assistant brings torch and transformers (seconds to import): commands that need no
    # model (sandbox, eval --decoder canonical, --help) should not wait for them.
    if name in ("Assistant", "Completion", "GeneratedFunction"):
        from . import assistant

        return getattr(assistant, name)
    raise AttributeError(f"module 'assistant' has no attribute {name!r}")
