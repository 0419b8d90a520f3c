"""`guidecode bench speed`: our decoding against transformers and llama.cpp, side by side in one run.

What runs on what:
- transformers' methods (greedy, prompt lookup, assisted generation when a draft model is given)
  run on a separately loaded copy of the model (and of the draft) that nothing of ours touches:
  stock attention, no hooks, no replaced layers, the model a transformers user has. The copy is
  loaded before our engine exists, and `benchmark` checks it is still stock before timing
  (hf_baselines.alterations).
- our methods (no speculation, each drafter, and the adaptive drafter the product uses) run on the
  model as guidecode's Engine prepares it (its own attention and linear layers), from quantized
  or dense weights as `--weights` picks (the stock copies are always dense: transformers' own).
- llama.cpp, the peer users pick (llama_cpp_peer.py, optional): greedy and prompt lookup on the
  GGUF file the model was loaded from, when llama-cpp-python is installed and the model is a GGUF.
Every method gets the same prompt token ids and stops at the same EOS ids and token budget.

Two claims, reported apart (speed_summary.py):
- lossless: each of our methods gives our plain decoding's tokens on every prompt. It must hold
  everywhere; `lossless` in the result is false otherwise and the CLI exits non-zero.
- fidelity: our plain decoding (and every other method) against stock transformers greedy, as
  it comes out: identical prompts, and for the others the index of the first differing token.
  Differences there are numerics (our exact kernels against stock ones, or another runtime).

Per workload: median tok/s, median over prompts of each method's speed ratio to transformers
greedy (and to llama.cpp greedy when it ran), drafted tokens accepted per forward pass. Timings
are wall clock of one decoding call, prompt processing included, after one untimed warm-up per
method; with --repeat R each figure is the median of R. Ours and llama.cpp also time the prompt
apart, which gives their decoding speed alone; for the plain methods that speed times the bytes of
weights a pass reads is set against the machine's read bandwidth, measured once per run
(weight_bytes.py).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import llama_cpp_peer, weight_bytes
from .environment import describe
from .hf_baselines import alterations, hf_assisted, hf_greedy, hf_prompt_lookup
from .speed_summary import BASELINE, OURS_PLAIN, PEER_BASELINE, Decoded, Family, MethodSummary, Run, lossless, summarize
from .workloads import SHIPPED, Prompt, load_prompts

if TYPE_CHECKING:
    from assistant.loading import LoadedModel

DEFAULT_MAX_NEW_TOKENS = 96

Decode = Callable[[list[int], int], Decoded]  # (prompt ids, token budget) -> the answer and its time


@dataclass(frozen=True)
class Method:
    name: str
    family: Family
    decode: Decode


@dataclass(frozen=True)
class Models:
    """One run's models. The stock copies are separate loads of the same files, made before any
    engine: transformers' methods run on them, ours on `target` and `draft`, which Engine changes."""

    target: LoadedModel
    stock_target: LoadedModel
    draft: LoadedModel | None = None
    stock_draft: LoadedModel | None = None


class BaselineAltered(RuntimeError):
    """A stock copy was changed by something of ours: its timings and texts would not be transformers'."""


@dataclass
class WorkloadResult:
    workload: str
    methods: list[MethodSummary] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


def _ours(engine, tokenizer, eos: frozenset[int], drafter_factory) -> Decode:
    from decoders import Plugins, StopRules, generate

    drafter = drafter_factory() if drafter_factory else None  # one per method: learned tables persist across prompts

    def timed(ids: list[int], budget: int) -> Decoded:
        start = time.perf_counter()  # prefill inside the clock, as transformers' generate includes its own
        session = engine.prefill(ids)
        prefilled = time.perf_counter()  # the prompt's logits are there: the first token costs no pass more
        result = generate(engine, session, tokenizer, Plugins(stop=StopRules(budget, eos), drafter=drafter))
        return Decoded(result.tokens, time.perf_counter() - start, result.forward_passes, result.accepted, prefilled - start)

    return timed


def _theirs(function, *models, eos: frozenset[int]) -> Decode:
    def timed(ids: list[int], budget: int) -> Decoded:
        return Decoded(*function(*models, ids, budget, set(eos)))

    return timed


def transformers_methods(models: Models, eos: frozenset[int]) -> list[Method]:
    target = models.stock_target.model
    methods = [
        Method(BASELINE, "transformers", _theirs(hf_greedy, target, eos=eos)),
        Method("transformers prompt lookup", "transformers", _theirs(hf_prompt_lookup, target, eos=eos)),
    ]
    if models.stock_draft is not None:
        assisted = _theirs(hf_assisted, target, models.stock_draft.model, eos=eos)
        methods.append(Method("transformers assisted (draft model)", "transformers", assisted))
    return methods


def our_methods(models: Models, eos: frozenset[int]) -> list[Method]:
    from decoders import Engine
    from decoders.drafters import DraftModelDrafter, NgramDrafter, TokenRecycling, default_drafter

    engine, tokenizer = Engine(models.target.model), models.target.tokenizer
    vocab = models.target.model.config.vocab_size
    draft_engine = Engine(models.draft.model) if models.draft is not None else None
    drafters = {
        OURS_PLAIN: None,
        "ours + n-gram": NgramDrafter,
        "ours + token recycling": lambda: TokenRecycling(vocab),
    }
    if draft_engine is not None:
        drafters["ours + draft model"] = lambda: DraftModelDrafter(draft_engine)
    drafters["ours, adaptive (default)"] = lambda: default_drafter(draft_engine)
    return [Method(name, "ours", _ours(engine, tokenizer, eos, factory)) for name, factory in drafters.items()]


def check_stock(models: Models) -> None:
    """Raise unless the stock copies are still as transformers loaded them (run after our engines exist)."""
    for copy in (models.stock_target, models.stock_draft):
        if copy is None:
            continue
        if copy.model is models.target.model or (models.draft is not None and copy.model is models.draft.model):
            raise BaselineAltered(f"the stock copy of {copy.name} is the model our engine runs; load it separately")
        if found := alterations(copy.model):
            raise BaselineAltered(f"the stock copy of {copy.name} was changed: {'; '.join(found)}")


def run_workload(
    name: str,
    prompts: list[Prompt],
    methods: list[Method],
    tokenizer,
    repeat: int,
    progress,
    bytes_per_pass: dict[str, int | None] | None = None,
    bandwidth: float | None = None,
) -> WorkloadResult:
    """bytes_per_pass and bandwidth: as speed_summary.summarize takes them."""
    result = WorkloadResult(name)
    for prompt in prompts:
        ids = tokenizer(prompt.prompt)["input_ids"]
        for method in methods:
            trials = [method.decode(ids, _budget(prompt)) for _ in range(repeat)]
            seconds = statistics.median(t.seconds for t in trials)
            run = Run(method.name, prompt.id, _with_seconds(trials, seconds), len(ids))
            result.runs.append(run)
            progress(f"{name} {prompt.id}: {method.name} {run.tokens_per_second:.1f} tok/s")
    result.methods = summarize(result.runs, {m.name: m.family for m in methods}, bytes_per_pass, bandwidth)
    return result


def _budget(prompt: Prompt) -> int:
    return prompt.max_new_tokens or DEFAULT_MAX_NEW_TOKENS


def _with_seconds(trials: list[Decoded], seconds: float) -> Decoded:
    # Tokens are the first trial's (greedy: every trial's); the time is the median trial's.
    first, prompt_times = trials[0], [t.prompt_seconds for t in trials if t.prompt_seconds is not None]
    prompt_seconds = statistics.median(prompt_times) if prompt_times else None
    return Decoded(first.tokens, seconds, first.forward_passes, first.accepted, prompt_seconds)


def resolve_prompt_files(names: list[str]) -> list[tuple[str, Path]]:
    """Shipped workload names (humaneval, infile, edit) or paths to JSONL files."""
    out = []
    for name in names:
        if name in SHIPPED:
            out.append((name, SHIPPED[name]))
        else:
            path = Path(name)
            if not path.is_file():
                raise FileNotFoundError(f"no prompts file {name!r}: give a JSONL path or one of {', '.join(SHIPPED)}")
            out.append((path.stem, path))
    return out


def eos_ids(tokenizer) -> frozenset[int]:
    candidates = (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>"))
    return frozenset(t for t in candidates if isinstance(t, int) and t >= 0)


def benchmark(
    models: Models,
    files: list[tuple[str, Path]],
    limit: int | None = None,
    repeat: int = 1,
    progress: Callable[[str], None] = lambda _: None,
    peer: llama_cpp_peer.PeerPlan = llama_cpp_peer.PeerPlan(None, "llama.cpp rows not asked for"),
    bandwidth_gib: float = 1.0,
) -> dict:
    """bandwidth_gib: the size of the read that measures memory bandwidth (weight_bytes.read_bandwidth)."""
    workloads = [(name, load_prompts(path)[:limit] if limit else load_prompts(path)) for name, path in files]
    tokenizer, eos = models.target.tokenizer, eos_ids(models.target.tokenizer)
    context = max((len(tokenizer(p.prompt)["input_ids"]) + _budget(p) for _, prompts in workloads for p in prompts), default=0)
    per_token = weights_per_token(models, peer)  # before our engines exist: the layers as loaded
    methods = transformers_methods(models, eos) + _peer_methods(peer, context, eos) + our_methods(models, eos)
    warm = tokenizer("def warm_up():\n")["input_ids"]
    for method in methods:  # one untimed run each: kernel set-up is not decoding speed
        method.decode(warm, 8)
    check_stock(models)  # after our engines have run once: a change made on first use shows too
    # Once, before the workloads and with no decoding running beside it: the same machine state for every row.
    bandwidth = round(weight_bytes.read_bandwidth(bandwidth_gib), 1)
    plain = {BASELINE: per_token["transformers"], OURS_PLAIN: per_token["ours"], PEER_BASELINE: per_token["llama.cpp"]}
    results = [run_workload(name, prompts, methods, tokenizer, repeat, progress, plain, bandwidth) for name, prompts in workloads]
    check_stock(models)
    setup = _setup(models, files, workloads, repeat, peer)
    return {
        "setup": {**setup, "read_bandwidth_gb_per_s": bandwidth, "weight_bytes_per_token": per_token},
        "lossless": lossless([m for r in results for m in r.methods]),
        "workloads": [{"workload": r.workload, "methods": [asdict(m) for m in r.methods], "runs": [_run_json(run) for run in r.runs]} for r in results],
    }


def _peer_methods(peer: llama_cpp_peer.PeerPlan, context: int, eos: frozenset[int]) -> list[Method]:
    if peer.gguf is None:
        return []
    return [Method(name, "llama.cpp", decode) for name, decode in llama_cpp_peer.methods(peer.gguf, context, eos).items()]


def weights_per_token(models: Models, peer: llama_cpp_peer.PeerPlan) -> dict[str, int | None]:
    """Bytes of weights one decoding pass reads, per runtime (weight_bytes.py); llama.cpp's from its
    GGUF file, None when its rows do not run."""
    out = {
        "ours": weight_bytes.streamed_bytes(models.target.model),
        "transformers": weight_bytes.streamed_bytes(models.stock_target.model),
        "llama.cpp": weight_bytes.gguf_streamed_bytes(peer.gguf) if peer.gguf is not None else None,
    }
    if models.draft is not None and models.stock_draft is not None:
        out["ours draft"] = weight_bytes.streamed_bytes(models.draft.model)
        out["transformers draft"] = weight_bytes.streamed_bytes(models.stock_draft.model)
    return out


def _dtype(loaded: LoadedModel) -> str:
    return str(loaded.dtype).removeprefix("torch.")


def weights_note(loaded: LoadedModel) -> str:
    """What our model's linear layers run from."""
    return loaded.quantized.describe() if loaded.quantized is not None else f"dense {_dtype(loaded)}"


def _setup(models: Models, files, workloads, repeat: int, peer: llama_cpp_peer.PeerPlan) -> dict:
    target, draft = models.target, models.draft
    return {
        "model": target.name,
        "draft_model": draft.name if draft is not None else None,
        "dtype": _dtype(target),
        "weights": weights_note(target),
        "device": str(target.device),
        "repetitions": repeat,
        "timing": "wall clock of one greedy decoding call, prompt processing included; median of the repetitions",
        "baselines": "transformers on a separately loaded, untouched copy of the model (dense weights)",
        "peer": peer.note,
        "machine": describe(),
        "workloads": {name: {"file": str(path), "prompts": len(p)} for (name, path), (_, p) in zip(files, workloads)},
    }


def _run_json(run: Run) -> dict:
    phases = run.phase_rates
    return {
        "method": run.method,
        "prompt": run.prompt,
        "prompt_tokens": run.prompt_tokens,
        "new_tokens": len(run.tokens),
        "seconds": round(run.decoded.seconds, 4),
        "tokens_per_second": round(run.tokens_per_second, 2),
        "forward_passes": run.decoded.forward_passes,
        "accepted": run.decoded.accepted,
        "prompt_tokens_per_second": round(phases[0], 2) if phases else None,
        "decode_tokens_per_second": round(phases[1], 2) if phases else None,
    }
