"""The eval decoders by name: each turns a task and a sample index into a candidate program.

A decoder is registered as a `DecoderSpec` (its name, the settings that change its output, how
to build it); reranking and search decoders plug in the same way with `register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from ..errors import GuidecodeError
from ..functions import splice
from ..progress import Progress
from .datasets import Task

if TYPE_CHECKING:
    from ..assistant import Assistant
    from .settings import EvalSettings

MODEL_SETTINGS = ("model", "dtype", "device", "weights", "max_tokens")


@dataclass(frozen=True)
class Candidate:
    completion: str  # what the decoder wrote (a function body)
    program: str  # the prompt with the completion in place: what runs against the tests
    tokens: int = 0
    seconds: float = 0.0  # generation, end to end
    stop_reason: str = ""
    seed: int | None = None  # the sampling seed, for sampled candidates
    steps: int = 0  # reranking decoders: steps their entropy gate saw
    paused: int = 0  # of those, decided by looking ahead
    rollouts: int = 0  # test-guided decoders: programs the model wrote for this answer
    public: tuple[int, int] | None = None  # test-guided decoders: (public tests passed, public tests)
    public_rerun: int | None = None  # search: public tests the answer passes when run once more


class Decoder(Protocol):
    """Writes candidates; one may also define `solve_many(task, samples) -> list[Candidate]`,
    which the loop then calls with all of a task's pending samples at once."""

    def solve(self, task: Task, sample: int) -> Candidate: ...

    def describe(self) -> dict: ...  # model, dtype, device…: what the summary records

    def close(self) -> None: ...


@dataclass(frozen=True)
class DecoderSpec:
    name: str
    build: Callable[[EvalSettings, Progress], Decoder]
    uses: tuple[str, ...]  # EvalSettings fields that change its output: saved, and compared on resume
    help: str
    deterministic: bool = True  # one sample per task: more would repeat it
    default_samples: int = 1
    loads_model: bool = True
    check: Callable[[EvalSettings, Sequence[Task]], None] | None = None  # before anything loads
    greedy_at_zero: bool = False  # takes --temperature 0 as "greedy" (others sample: 0 is the greedy decoder)


DECODERS: dict[str, DecoderSpec] = {}


def register(spec: DecoderSpec) -> DecoderSpec:
    DECODERS[spec.name] = spec
    return spec


def lookup(name: str) -> DecoderSpec:
    if name not in DECODERS:
        raise GuidecodeError(f"unknown decoder {name!r}; choose from {', '.join(DECODERS)}")
    return DECODERS[name]


def sample_seed(seed: int, task_id: str, sample: int) -> int:
    """The seed of one sample: fixed by the run's seed, the task and the index, so a resumed or
    limited run draws exactly what a whole run would."""
    from decoders.sampling import derive_seed

    return derive_seed(seed, task_id, sample)


class AssistantDecoder:
    """Writes each body with `Assistant.generate_function`; monitors stay off (no workspace)."""

    def __init__(self, assistant: Assistant, max_tokens: int, seed: int | None = None):
        self.assistant = assistant
        self.max_tokens = max_tokens
        self.seed = seed  # None: deterministic decoding, no per-sample seed

    def solve(self, task: Task, sample: int) -> Candidate:
        self.assistant.forget()  # records independent of the order tasks run in (Assistant.forget)
        seed = None
        if self.seed is not None:
            seed = sample_seed(self.seed, task.task_id, sample)
            # Safe to swap: the Assistant reads its config on every request, and nothing it built
            # once (vocabulary, monitors, drafter) depends on the seed. Rebuilding costs ~1 s.
            self.assistant.config = replace(self.assistant.config, seed=seed)
        generated = self.assistant.generate_function(task.prompt, name=task.entry_point, max_new_tokens=self.max_tokens)
        c = generated.completion
        program = splice(task.prompt, generated.body, generated.replaced)
        return Candidate(generated.body, program, c.tokens, c.seconds, c.stop_reason, seed, c.decided_steps, c.paused_steps)

    def describe(self) -> dict:
        from ..loading import dtype_name  # torch loads only with a model

        loaded = self.assistant.loaded
        config = self.assistant.config
        if config.beam_width > 1:
            speculation = "off (beams are not speculated)"
        else:
            speculation = "on (lossless)" if self.assistant.speculating else self.assistant.speculation_note or "off"
        weights = loaded.quantized.describe() if loaded.quantized else "dense"
        described: dict[str, str | float] = {
            "model": loaded.name,
            "dtype": dtype_name(loaded.dtype),
            "device": loaded.device.type,
            "weights": weights,
            "speculation": speculation,
        }
        if config.rerank.enabled:  # the threshold actually used, learned or given
            described["threshold"] = config.rerank.threshold if config.rerank.threshold is not None else self.assistant.learned_threshold()
        return described

    def close(self) -> None:
        self.assistant.close()


class SamplingDecoder(AssistantDecoder):
    """Samples with a seed each; a task's samples are decoded side by side (Assistant.sample)."""

    def __init__(self, assistant: Assistant, max_tokens: int, seed: int):
        super().__init__(assistant, max_tokens, seed)
        self.seed: int = seed

    def solve_many(self, task: Task, samples: list[int]) -> list[Candidate]:
        self.assistant.forget()
        seeds = [sample_seed(self.seed, task.task_id, sample) for sample in samples]
        generated = self.assistant.sample_function(task.prompt, seeds, name=task.entry_point, max_new_tokens=self.max_tokens)
        return [
            # The batch's time is shared: each sample is charged its part of it.
            Candidate(g.body, splice(task.prompt, g.body, g.replaced), g.completion.tokens, g.completion.seconds / len(samples), g.completion.stop_reason, seed)
            for g, seed in zip(generated, seeds)
        ]

    def describe(self) -> dict:
        return {**super().describe(), "speculation": "off (a task's samples are decoded side by side)"}


class CanonicalDecoder:
    """The dataset's own solution: validates a dataset and the harness without a model."""

    def solve(self, task: Task, sample: int) -> Candidate:
        assert task.canonical_solution is not None  # checked before the run
        return Candidate(task.canonical_solution, task.prompt + task.canonical_solution, stop_reason="canonical")

    def describe(self) -> dict:
        return {"model": None}

    def close(self) -> None:
        pass


def _load_assistant(settings: EvalSettings, progress: Progress, **decoding) -> Assistant:
    from ..assistant import Assistant
    from ..config import AssistantConfig, MonitorConfig

    config = AssistantConfig(
        model=settings.model,
        dtype=settings.dtype,
        device=settings.device,
        weights=settings.weights,
        max_new_tokens=settings.max_tokens,
        monitors=MonitorConfig(enabled=()),
        **decoding,
    )
    assistant = Assistant.load(config, progress)
    assistant.warm_up()  # one-off set-up (kernels, the exactness probe) stays out of the first sample's time
    return assistant


def _build_greedy(settings: EvalSettings, progress: Progress) -> Decoder:
    return AssistantDecoder(_load_assistant(settings, progress), settings.max_tokens)


def _build_sampling(settings: EvalSettings, progress: Progress) -> Decoder:
    assistant = _load_assistant(settings, progress, temperature=settings.temperature, top_p=settings.top_p)
    return SamplingDecoder(assistant, settings.max_tokens, settings.seed)


def _build_beam(settings: EvalSettings, progress: Progress) -> Decoder:
    return AssistantDecoder(_load_assistant(settings, progress, beam_width=settings.beam_width), settings.max_tokens)


def _build_adadec(settings: EvalSettings, progress: Progress, syntactic: bool = False, answer: bool = False, pause_at: str = "any") -> Decoder:
    from ..config import RerankConfig

    lookahead = settings.lookahead or (16 if syntactic else 5)
    rerank = RerankConfig(True, "adadec", settings.threshold, settings.top_k, lookahead, settings.scoring, syntactic, answer, pause_at)
    return _reranking_decoder(settings, progress, rerank)


def _build_uscd(settings: EvalSettings, progress: Progress) -> Decoder:
    from ..config import RerankConfig

    return _reranking_decoder(settings, progress, RerankConfig(True, "uscd", settings.threshold, alpha=settings.alpha))


def _reranking_decoder(settings: EvalSettings, progress: Progress, rerank) -> Decoder:
    assistant = _load_assistant(settings, progress, rerank=rerank)
    if settings.threshold is None:
        assistant.learned_threshold()  # none learned for this model: fail now, not on the first task
    return AssistantDecoder(assistant, settings.max_tokens)


def _check_functions(settings: EvalSettings, tasks: Sequence[Task]) -> None:
    """Every prompt has its entry point to write (a malformed dataset fails before the model loads)."""
    from ..functions import find_function_slot

    for task in tasks:
        try:
            find_function_slot(task.prompt, task.entry_point)
        except GuidecodeError as error:
            raise GuidecodeError(f"task {task.task_id}: {error}") from None


def _check_canonical(settings: EvalSettings, tasks: Sequence[Task]) -> None:
    missing = [t.task_id for t in tasks if t.canonical_solution is None]
    if missing:
        raise GuidecodeError(f"the canonical decoder needs each task's 'canonical_solution'; task {missing[0]} has none")


register(DecoderSpec("greedy", _build_greedy, MODEL_SETTINGS, "the most likely token at each step", check=_check_functions))
register(
    DecoderSpec(
        "sampling",
        _build_sampling,
        MODEL_SETTINGS + ("temperature", "top_p", "seed"),
        "temperature and top-p sampling, a seed per sample",
        deterministic=False,
        default_samples=10,
        check=_check_functions,
    )
)
register(DecoderSpec("beam", _build_beam, MODEL_SETTINGS + ("beam_width",), "beam search, --beam-width wide", check=_check_functions))
ADADEC_SETTINGS = MODEL_SETTINGS + ("threshold", "top_k", "lookahead", "scoring")
register(
    DecoderSpec(
        "adadec",
        _build_adadec,
        ADADEC_SETTINGS,
        "greedy, but uncertain steps (entropy above the learned threshold) look ahead from the top --top-k and rerank",
        check=_check_functions,
    )
)
register(
    DecoderSpec(
        "adadec-syntactic",
        lambda settings, progress: _build_adadec(settings, progress, syntactic=True),
        ADADEC_SETTINGS,
        "adadec whose lookahead runs to the end of a statement (tree-sitter), at most --lookahead (16) tokens",
        check=_check_functions,
    )
)
register(
    DecoderSpec(
        "adadec-answer-statements",
        lambda settings, progress: _build_adadec(settings, progress, answer=True, pause_at="statements"),
        ADADEC_SETTINGS,
        "adadec pausing only where a statement begins, each lookahead running to the end of the answer (--scoring sum: the answer's likelihood)",
        check=_check_functions,
    )
)
register(
    DecoderSpec(
        "uscd",
        _build_uscd,
        MODEL_SETTINGS + ("threshold", "alpha"),
        "greedy, but uncertain steps subtract what the model says without the docstring's examples (--alpha)",
        check=_check_functions,
    )
)
register(
    DecoderSpec(
        "canonical",
        lambda settings, progress: CanonicalDecoder(),
        (),
        "the dataset's canonical_solution, no model",
        loads_model=False,
        check=_check_canonical,
    )
)
