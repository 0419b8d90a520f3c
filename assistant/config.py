"""The assistant's options, as one defaulted dataclass; bad values are rejected with a message naming them."""

from __future__ import annotations

from dataclasses import dataclass

from .embedded import DEFAULT_MODEL
from .errors import GuidecodeError

MONITOR_NAMES = ("dereference", "imports", "arguments")
LANGUAGE_SERVERS = ("jedi", "pyright")
RERANKERS = ("adadec", "uscd")


@dataclass(frozen=True)
class MonitorConfig:
    """Monitor-guided decoding: which monitors run when a workspace is known, over which server."""

    enabled: tuple[str, ...] = MONITOR_NAMES
    language_server: str = "jedi"  # "jedi" (jedi-language-server) or "pyright" (basedpyright)
    budget_s: float = 0.5  # a language-server answer slower than this means no constraint for that step
    choose_names: bool = True  # greedy: after `obj.`, choose the member by its whole name's probability (decoders/monitors/choice.py)

    def __post_init__(self) -> None:
        unknown = [name for name in self.enabled if name not in MONITOR_NAMES]
        if unknown:
            raise GuidecodeError(f"unknown monitor {unknown[0]!r}; choose from {', '.join(MONITOR_NAMES)}")
        if self.language_server not in LANGUAGE_SERVERS:
            raise GuidecodeError(f"unknown language server {self.language_server!r}; choose from {', '.join(LANGUAGE_SERVERS)}")
        if not self.budget_s > 0:
            raise GuidecodeError(f"the monitors' latency budget must be positive, got {self.budget_s}")


@dataclass(frozen=True)
class RerankConfig:
    """Uncertainty-adaptive reranking (AdaDec, decoders/adadec.py): greedy steps whose entropy is
    above the threshold are decided by looking ahead from the top candidates."""

    enabled: bool = False
    method: str = "adadec"  # "adadec": look ahead and rerank; "uscd": contrast with the prompt without its examples
    threshold: float | None = None  # nats; None: the one learned for the model (`guidecode calibrate`)
    top_k: int = 3  # candidates per pause
    lookahead: int = 5  # tokens per candidate (with `syntactic`: at most)
    scoring: str = "mean"  # of the lookahead's log-probabilities: mean, sum or min
    syntactic: bool = False  # stop a lookahead at the end of a statement (assistant/lookahead.py)
    alpha: float = 0.5  # uscd: weight of the contrast

    def __post_init__(self) -> None:
        if not self.enabled:
            return  # (and the default instance does not import torch along with the decoder)
        from decoders.adadec import AdaDecConfig
        from decoders.contrast import ContrastConfig

        if self.method not in RERANKERS:
            raise GuidecodeError(f"unknown reranking method {self.method!r}; choose from {', '.join(RERANKERS)}")
        try:  # one set of rules: the decoders' own
            AdaDecConfig(self.threshold if self.threshold is not None else 0.0, self.top_k, self.lookahead, self.scoring)
            ContrastConfig(self.threshold if self.threshold is not None else 0.0, self.alpha)
        except ValueError as error:
            raise GuidecodeError(f"reranking: {error}") from None


@dataclass(frozen=True)
class AssistantConfig:
    model: str = DEFAULT_MODEL  # embedded name, local directory, .gguf file or hub id
    dtype: str = "auto"  # auto: bf16 where the CPU or GPU has it, else fp32
    # auto: a GGUF model's own quantized values on a CPU, else dense (assistant/quantize.py)
    weights: str = "auto"
    device: str = "auto"
    allow_download: bool = False  # fetch hub models not in the local cache (off: offline first)
    max_new_tokens: int = 128
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    max_prompt_tokens: int = 2048  # the prompt is cut to this budget around the cursor
    suffix_share: float = 0.25  # of that budget, the share given to the text after the cursor
    healing: bool = True  # token healing of the prompt's last token (decoders/healing.py)
    # Prefill in chunks of this many tokens, checking the cancel flag in between (None: at once).
    prefill_chunk: int | None = None
    # Lossless speculation (decoders/drafters): on wherever the engine verifies exactly.
    speculation: bool = True
    draft_model: str | None = None  # a smaller model with the same tokenizer that drafts too
    # Beam search with this many beams (decoders/beam.py); 1 is off. Beams are not speculated
    # or sampled, and stream their text once, at the end.
    beam_width: int = 1
    monitors: MonitorConfig = MonitorConfig()  # used when a request names a workspace
    rerank: RerankConfig = RerankConfig()  # off by default

    def __post_init__(self) -> None:
        checks = [
            (self.max_new_tokens >= 1, f"max_new_tokens must be at least 1, got {self.max_new_tokens}"),
            (self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}"),
            (0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}"),
            (self.max_prompt_tokens >= 16, f"max_prompt_tokens must be at least 16, got {self.max_prompt_tokens}"),
            (0 <= self.suffix_share < 1, f"suffix_share must be in [0, 1), got {self.suffix_share}"),
            (self.prefill_chunk is None or self.prefill_chunk >= 1, f"prefill_chunk must be at least 1, got {self.prefill_chunk}"),
            (self.beam_width >= 1, f"beam_width must be at least 1 (1: no beam search), got {self.beam_width}"),
            (not (self.rerank.enabled and self.temperature > 0), "reranking decides greedy steps: use temperature 0 with it"),
            (not (self.rerank.enabled and self.beam_width > 1), "reranking and beam search are two decoders: choose one"),
        ]
        for ok, message in checks:
            if not ok:
                raise GuidecodeError(message)
