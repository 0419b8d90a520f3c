"""The assistant's configuration, as one defaulted dataclass whose user-facing fields take their
defaults and rules from the options schema (assistant/options.py); bad values are rejected with a
message naming them. `from_options` builds it from option values by name, as every front end has them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .errors import GuidecodeError
from .options import LANGUAGE_SERVERS, MONITOR_NAMES, OPTION, OPTIONS, RERANKERS, check_all

__all__ = ["LANGUAGE_SERVERS", "MONITOR_NAMES", "RERANKERS", "AssistantConfig", "MonitorConfig", "RerankConfig", "from_options"]


def _default(name: str) -> Any:
    return OPTION[name].default


def _checked(config: object, prefix: str = "") -> None:
    """The schema's rule for every field of `config` (at `prefix` in AssistantConfig) an option sets."""
    values = {option.name: getattr(config, option.target.removeprefix(prefix)) for option in _targets(prefix)}
    problems = check_all(values, values)
    if problems:
        raise GuidecodeError(problems[0])


def _targets(prefix: str) -> list:
    """The options that set a field of the config at `prefix` ("" for the top level)."""
    return [o for o in OPTIONS if o.target and o.target.startswith(prefix) and ("." not in o.target.removeprefix(prefix)) and o.name not in _UNCHECKED]


_UNCHECKED = {"model", "dtype", "device"}  # loading checks them, with messages that say what exists


@dataclass(frozen=True)
class MonitorConfig:
    """Monitor-guided decoding: which monitors run when a workspace is known, over which server."""

    enabled: tuple[str, ...] = MONITOR_NAMES
    language_server: str = _default("language_server")
    budget_s: float = 0.5  # a language-server answer slower than this means no constraint for that step
    choose_names: bool = _default("name_choice")  # greedy: after `obj.`, choose the member by its whole name's probability (decoders/monitors/choice.py)

    def __post_init__(self) -> None:
        unknown = [name for name in self.enabled if name not in MONITOR_NAMES]
        if unknown:
            raise GuidecodeError(f"unknown monitor {unknown[0]!r}; choose from {', '.join(MONITOR_NAMES)}")
        _checked(self, "monitors.")
        if not self.budget_s > 0:
            raise GuidecodeError(f"the monitors' latency budget must be positive, got {self.budget_s}")


@dataclass(frozen=True)
class RerankConfig:
    """Uncertainty-adaptive reranking (AdaDec, decoders/adadec.py): greedy steps whose entropy is
    above the threshold are decided by looking ahead from the top candidates."""

    enabled: bool = False
    method: str = "adadec"  # "adadec": look ahead and rerank; "uscd": contrast with the prompt without its examples
    threshold: float | None = _default("threshold")  # nats; None: the one learned for the model (`guidecode calibrate`)
    top_k: int = _default("top_k")  # candidates per pause
    lookahead: int = 5  # tokens per candidate (with `syntactic`: at most)
    scoring: str = _default("scoring")  # of the lookahead's log-probabilities: mean, sum or min
    syntactic: bool = _default("syntactic_lookahead")  # stop a lookahead at the end of a statement (assistant/lookahead.py)
    to_answer_end: bool = False  # run each lookahead to where the completion would end (its stop rules), at most `lookahead` tokens
    pause_at: str = "any"  # "any" uncertain step; "statements": only at a statement's first token; "start": only before the first statement
    alpha: float = _default("alpha")  # uscd: weight of the contrast

    def __post_init__(self) -> None:
        if not self.enabled:
            return  # (and the default instance does not import torch along with the decoder)
        from decoders.adadec import AdaDecConfig
        from decoders.contrast import ContrastConfig

        if self.method not in RERANKERS:
            raise GuidecodeError(f"unknown reranking method {self.method!r}; choose from {', '.join(RERANKERS)}")
        from .lookahead import PLACES

        if self.pause_at not in PLACES:
            raise GuidecodeError(f"unknown place to pause {self.pause_at!r}; choose from {', '.join(PLACES)}")
        _checked(self, "rerank.")
        try:  # one set of rules: the decoders' own
            AdaDecConfig(self.threshold if self.threshold is not None else 0.0, self.top_k, self.lookahead, self.scoring)
            ContrastConfig(self.threshold if self.threshold is not None else 0.0, self.alpha)
        except ValueError as error:
            raise GuidecodeError(f"reranking: {error}") from None


@dataclass(frozen=True)
class AssistantConfig:
    model: str = _default("model")  # embedded name, local directory, .gguf file or hub id
    dtype: str = _default("dtype")  # auto: bf16 where the CPU or GPU has it, else fp32
    # auto: a GGUF model's own quantized values on a CPU, else dense (assistant/quantize.py)
    weights: str = _default("weights")
    device: str = _default("device")
    allow_download: bool = _default("allow_download")  # fetch hub models not in the local cache (off: offline first)
    max_new_tokens: int = _default("max_tokens")
    temperature: float = _default("temperature")
    top_p: float = _default("top_p")
    seed: int | None = _default("seed")
    max_prompt_tokens: int = _default("max_prompt_tokens")  # the prompt is cut to this budget around the cursor
    suffix_share: float = 0.25  # of that budget, the share given to the text after the cursor
    healing: bool = _default("healing")  # token healing of the prompt's last token (decoders/healing.py)
    # Repository context before the prompt window (assistant/context/), in tokens on top of
    # max_prompt_tokens; 0 is off. With `context_recent`, chunks of the recent files a request passes.
    context_tokens: int = _default("context_tokens")
    context_recent: bool = _default("context_recent")
    # "unsure": the context only where the completion written without it was unsure of its first
    # line (a step's top probability below context_confidence), written again with it; "always".
    context_when: str = _default("context_when")
    context_confidence: float = _default("context_confidence")
    # Prefill in chunks of this many tokens, checking the cancel flag in between (None: at once).
    prefill_chunk: int | None = None
    # Lossless speculation (decoders/drafters): on wherever the engine verifies exactly.
    speculation: bool = _default("speculation")
    draft_model: str | None = _default("draft_model")  # a smaller model with the same tokenizer that drafts too
    # Beam search with this many beams (decoders/beam.py); 1 is off. Beams are not speculated
    # or sampled, and stream their text once, at the end.
    beam_width: int = _default("beam_width")
    monitors: MonitorConfig = MonitorConfig()  # used when a request names a workspace
    rerank: RerankConfig = RerankConfig()  # off by default

    def __post_init__(self) -> None:
        _checked(self)
        checks = [
            (0 <= self.suffix_share < 1, f"suffix_share must be in [0, 1), got {self.suffix_share}"),
            (self.prefill_chunk is None or self.prefill_chunk >= 1, f"prefill_chunk must be at least 1, got {self.prefill_chunk}"),
            (not (self.rerank.enabled and self.temperature > 0), "reranking decides greedy steps: use temperature 0 with it"),
            (not (self.rerank.enabled and self.beam_width > 1), "reranking and beam search are two decoders: choose one"),
        ]
        for ok, message in checks:
            if not ok:
                raise GuidecodeError(message)


def from_options(values: Mapping[str, Any], **fixed: Any) -> AssistantConfig:
    """The configuration that option values (by option name; a missing one keeps its default) ask
    for, with `fixed` fields (set by a front end, not by its user) on top. Options set the field
    their `target` names; the three that choose among decoders (monitors, adadec, uscd) are read here."""
    top: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {"monitors": {}, "rerank": {}}
    for option in OPTIONS:
        if option.target and option.name in values:
            head, _, tail = option.target.partition(".")
            (nested[head] if tail else top)[tail or head] = values[option.name]
    if not values.get("monitors", True):
        nested["monitors"]["enabled"] = ()
    if values.get("adadec") and values.get("uscd"):
        raise GuidecodeError("adadec and uscd are two decoders: choose one")
    if values.get("adadec") or values.get("uscd"):
        syntactic = nested["rerank"].get("syntactic", False)
        lookahead = values.get("lookahead") or (16 if syntactic else 5)
        nested["rerank"].update(enabled=True, method="uscd" if values.get("uscd") else "adadec", lookahead=lookahead)
    known = {f.name for f in fields(AssistantConfig)}
    assert known >= top.keys() | fixed.keys(), "an option's target is not an AssistantConfig field"
    return AssistantConfig(**{**top, **fixed}, monitors=MonitorConfig(**nested["monitors"]), rerank=RerankConfig(**nested["rerank"]))
