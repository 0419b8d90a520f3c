"""The server's options, from `initializationOptions` and `workspace/didChangeConfiguration`.

An editor sends camelCase keys (section "guidecode"). A bad value never fails the request that
carried it: it is reported (the server shows the message to the user) and its default is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

from assistant.config import LANGUAGE_SERVERS, MONITOR_NAMES, AssistantConfig, MonitorConfig, RerankConfig
from assistant.embedded import DEFAULT_MODEL

if TYPE_CHECKING:
    from decoders.planning import PlanningConfig

_DTYPES = ("auto", "bfloat16", "float16", "float32", "bf16", "fp16", "fp32")
_DEVICES = ("auto", "cpu", "cuda")
# Keys the VS Code extension sends in the same section for itself.
_CLIENT_ONLY = {"server", "trace"}


@dataclass(frozen=True)
class GuideOptions:
    healing: bool = True
    monitors: bool = True  # static-analysis monitors, in documents inside a workspace folder
    name_choice: bool = True  # with monitors: choose a member after `obj.` by its whole name's probability


@dataclass(frozen=True)
class ServerOptions:
    model: str = DEFAULT_MODEL
    dtype: str = "auto"
    device: str = "auto"
    weights: str = "auto"  # auto, quantized or dense (assistant/quantize.py)
    max_tokens: int = 64
    debounce_ms: int = 50
    # A smaller window than the CLI's: on a small CPU the prompt's prefill dominates a completion's latency.
    max_prompt_tokens: int = 1024
    guides: GuideOptions = field(default_factory=GuideOptions)
    speculation: bool = True  # lossless: the same completions, sooner (off where it cannot be exact)
    language_server: str = "jedi"  # the monitors' static analysis: "jedi" or "pyright" (basedpyright)
    # Uncertainty-adaptive reranking at the model's learned threshold: a decoder, not a guide (the
    # editor's "toggle guides" leaves it), and off by default: its lookaheads cost latency.
    adadec: bool = False
    # guidecode.generate: search for a body passing the docstring's examples (or a test file) when
    # there are any, writing at most this many programs and stopping after this many seconds; the
    # first program is greedy's, the others sampled at this temperature (0: all greedy).
    search: bool = True
    search_rollouts: int = 8
    search_seconds: float = 60.0
    search_temperature: float = 0.8  # PlanningConfig's default (not imported: this module stays free of torch)

    def assistant_config(self) -> AssistantConfig:
        return AssistantConfig(
            model=self.model,
            dtype=self.dtype,
            device=self.device,
            weights=self.weights,
            max_new_tokens=self.max_tokens,
            max_prompt_tokens=self.max_prompt_tokens,
            suffix_share=0.0625,  # the suffix follows the prefix in FIM prompts: each keystroke re-encodes it, so keep it short
            healing=self.guides.healing,
            # Chunk boundaries let a superseded request keep the chunks it finished (cancellation
            # itself reaches inside a chunk, between layers). Every chunk of a quantized model
            # unpacks each layer's weights once more, so small chunks slow long prompts; the
            # process keeps memory in proportion to the chunk, so large ones cost resident memory.
            prefill_chunk=256,
            speculation=self.speculation,
            monitors=MonitorConfig(
                enabled=MONITOR_NAMES if self.guides.monitors else (), language_server=self.language_server, choose_names=self.guides.name_choice
            ),
            rerank=RerankConfig(enabled=self.adadec),
        )

    def search_config(self) -> PlanningConfig:
        from decoders.planning import PlanningConfig  # here: loading the options needs no torch

        return PlanningConfig(rollouts=self.search_rollouts, seconds=self.search_seconds, temperature=self.search_temperature)

    def needs_reload(self, other: ServerOptions) -> bool:
        return (self.model, self.dtype, self.device, self.weights) != (other.model, other.dtype, other.device, other.weights)


_CAMEL = {
    "maxTokens": "max_tokens",
    "debounceMs": "debounce_ms",
    "maxPromptTokens": "max_prompt_tokens",
    "languageServer": "language_server",
    "searchRollouts": "search_rollouts",
    "searchSeconds": "search_seconds",
    "searchTemperature": "search_temperature",
    "nameChoice": "name_choice",
}


def _check(name: str, value: Any) -> str | None:
    """Why `value` is not valid for option `name`, or None."""
    if name in ("model", "dtype", "device", "weights") and (not isinstance(value, str) or not value.strip()):
        return "must be a non-empty string"
    if name == "dtype" and value.lower() not in _DTYPES:
        return f"must be one of {', '.join(_DTYPES[:4])}"
    if name == "weights" and value not in ("auto", "quantized", "dense"):
        return "must be one of auto, quantized, dense"
    if name == "device" and value.lower() not in _DEVICES:
        return f"must be one of {', '.join(_DEVICES)}"
    if name == "max_tokens" and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 2048):
        return "must be an integer from 1 to 2048"
    if name == "debounce_ms" and not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 5000):
        return "must be an integer from 0 to 5000"
    if name == "max_prompt_tokens" and not (isinstance(value, int) and not isinstance(value, bool) and 64 <= value <= 32768):
        return "must be an integer from 64 to 32768"
    if name == "search_rollouts" and not (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 256):
        return "must be an integer from 1 to 256"
    if name == "search_seconds" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 1 <= value <= 3600):
        return "must be a number of seconds from 1 to 3600"
    if name == "search_temperature" and not (isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 2):
        return "must be a number from 0 (every program greedy) to 2"
    if name in ("speculation", "adadec", "search") and not isinstance(value, bool):
        return "must be true or false"
    if name == "language_server" and value not in LANGUAGE_SERVERS:
        return f"must be one of {', '.join(LANGUAGE_SERVERS)}"
    return None


def parse_options(raw: Any, base: ServerOptions = ServerOptions()) -> tuple[ServerOptions, list[str]]:
    """Options from an editor's object, starting from `base`; returns them and the problems found."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"guidecode options must be an object, got {type(raw).__name__}; using the defaults"]
    problems: list[str] = []
    defaults = ServerOptions()
    values: dict[str, Any] = {}
    known = {f.name for f in fields(ServerOptions)}
    for key, value in raw.items():
        name = _CAMEL.get(key, key)
        if key in _CLIENT_ONLY:
            continue
        if name not in known:
            problems.append(f"unknown guidecode option {key!r} ignored")
            continue
        if name == "guides":
            values["guides"], more = _parse_guides(value)
            problems += more
            continue
        if (why := _check(name, value)) is not None:
            problems.append(f"guidecode option {key}={value!r} {why}; using the default {getattr(defaults, name)!r}")
            value = getattr(defaults, name)
        values[name] = value
    return replace(base, **values), problems


def _parse_guides(raw: Any) -> tuple[GuideOptions, list[str]]:
    if not isinstance(raw, dict):
        return GuideOptions(), [f"guidecode option guides must be an object, got {raw!r}; using the defaults"]
    problems, values = [], {}
    for key, value in raw.items():
        name = _CAMEL.get(key, key)
        if name not in {f.name for f in fields(GuideOptions)}:
            problems.append(f"unknown guide {key!r} ignored")
        elif not isinstance(value, bool):
            problems.append(f"guide {key}={value!r} must be true or false; using the default")
        else:
            values[name] = value
    return GuideOptions(**values), problems
