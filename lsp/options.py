"""The server's options, from `initializationOptions` and `workspace/didChangeConfiguration`.

An editor sends the keys the options schema (assistant/options.py) gives them, in section
"guidecode": camelCase, nested where the key has a dot (`guides.healing`). A bad value never fails
the request that carried it: it is reported (the server shows the message to the user) and its
default is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.config import AssistantConfig, from_options
from assistant.options import defaults, in_scope

if TYPE_CHECKING:
    from decoders.planning import PlanningConfig

_EDITOR = {option.key: option for option in in_scope("editor")}
# Keys the VS Code extension sends in the same section for itself.
_CLIENT_ONLY = {"server", "trace", "languages"}
# Settings of the server's own, not its user's: the suffix follows the prefix in FIM prompts and
# each keystroke re-encodes it, so keep it short; chunk boundaries let a superseded request keep
# the chunks it finished (cancellation itself reaches inside a chunk, between layers). Every chunk
# of a quantized model unpacks each layer's weights once more, so small chunks slow long prompts,
# and the process keeps memory in proportion to the chunk, so large ones cost resident memory.
_FIXED = {"suffix_share": 0.0625, "prefill_chunk": 256}


class ServerOptions:
    """The value of every option the editor may set, by option name (`options.max_tokens`)."""

    def __init__(self, **values: Any) -> None:
        unknown = values.keys() - defaults("editor").keys()
        if unknown:
            raise TypeError(f"not a server option: {', '.join(sorted(unknown))}")
        self._values = {**defaults("editor"), **values}

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerOptions) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values.items())))

    def __repr__(self) -> str:
        return f"ServerOptions({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def replace(self, **values: Any) -> ServerOptions:
        return ServerOptions(**{**self._values, **values})

    def assistant_config(self) -> AssistantConfig:
        return from_options(self._values, **_FIXED)

    def search_config(self) -> PlanningConfig:
        from decoders.planning import PlanningConfig  # here: loading the options needs no torch

        return PlanningConfig(rollouts=self.search_rollouts, seconds=self.search_seconds, temperature=self.search_temperature)

    def needs_reload(self, other: ServerOptions) -> bool:
        return any(self._values[o.name] != other._values[o.name] for o in in_scope("editor") if o.reload)


def parse_options(raw: Any, base: ServerOptions = ServerOptions()) -> tuple[ServerOptions, list[str]]:
    """Options from an editor's object, starting from `base`; returns them and the problems found."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"guidecode options must be an object, got {type(raw).__name__}; using the defaults"]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in _flatten(raw, problems):
        if (option := _EDITOR.get(key)) is None:
            problems.append(f"unknown guidecode option {key!r} ignored")
        elif (why := option.check(value)) is not None:
            default = option.default_in("editor")
            problems.append(f"guidecode option {key}={value!r} {why}; using the default {default!r}")
            values[option.name] = default
        else:
            values[option.name] = option.normalize(value)
    return base.replace(**values), problems


def _flatten(raw: dict, problems: list[str]) -> list[tuple[str, Any]]:
    """(dotted key, value) pairs: `{"guides": {"healing": False}}` is `guides.healing`."""
    pairs: list[tuple[str, Any]] = []
    for key, value in raw.items():
        if key in _CLIENT_ONLY:
            continue
        if key in _GROUPS:
            if isinstance(value, dict):
                pairs += [(f"{key}.{inner}", v) for inner, v in value.items()]
            else:
                problems.append(f"guidecode option {key} must be an object, got {value!r}; using the defaults")
                pairs += [(f"{key}.{o.key.partition('.')[2]}", o.default_in("editor")) for o in _EDITOR.values() if o.key.startswith(f"{key}.")]
            continue
        pairs.append((key, value))
    return pairs


_GROUPS = {key.partition(".")[0] for key in _EDITOR if "." in key}
