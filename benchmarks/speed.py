"""`guidecode bench speed`: speculative decoding against transformers, side by side in one run.

For every prompt, on the same loaded model and dtype, each method decodes greedily up to the
prompt's token budget: transformers' `generate` (greedy, prompt lookup, assisted generation
with a draft model when one is given), then ours without speculation and with each drafter and
the combination the product uses. Reported per workload: median tokens/s, the median over
prompts of each method's speed ratio to transformers greedy, the mean number of drafted tokens
accepted per forward pass, and on how many prompts the tokens equal transformers greedy's.

Every method runs the model as guidecode's engine prepares it (decoders/invariant.py: linear
layers and attention that give the same logits whatever the number of tokens in a pass), so
"identical" compares like with like. Timings are wall clock of the decoding call, prefill
included, after one untimed warm-up generation; with --repeat R each figure is the median of R.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .environment import describe
from .hf_baselines import hf_assisted, hf_greedy, hf_prompt_lookup
from .workloads import SHIPPED, Prompt, load_prompts

DEFAULT_MAX_NEW_TOKENS = 96
BASELINE = "transformers greedy"


@dataclass
class Run:
    method: str
    prompt: str
    tokens: list[int]
    seconds: float
    forward_passes: int | None = None  # ours only
    accepted: int | None = None

    @property
    def tokens_per_second(self) -> float:
        return len(self.tokens) / self.seconds if self.seconds > 0 else 0.0


@dataclass
class MethodSummary:
    method: str
    tokens_per_second: float  # median over prompts
    ratio: float  # median over prompts of (this method's tok/s) / (transformers greedy's)
    accepted_per_pass: float | None
    identical: int  # prompts whose tokens equal transformers greedy's
    prompts: int


@dataclass
class WorkloadResult:
    workload: str
    methods: list[MethodSummary] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)


Decode = Callable[[list[int], int], tuple[list[int], float, int | None, int | None]]


def _ours(engine, tokenizer, eos: frozenset[int], drafter_factory) -> Decode:
    from decoders import StopRules, generate

    drafter = drafter_factory() if drafter_factory else None  # one per method: learned tables persist across prompts

    def timed(ids: list[int], budget: int):
        start = time.perf_counter()  # prefill inside the clock, as transformers' generate includes its own
        result = generate(engine, engine.prefill(ids), tokenizer, stop=StopRules(budget, eos), drafter=drafter)
        return result.tokens, time.perf_counter() - start, result.forward_passes, result.accepted

    return timed


def _theirs(function, *models, eos: frozenset[int]) -> Decode:
    def timed(ids: list[int], budget: int):
        tokens, seconds = function(*models, ids, budget, set(eos))
        return tokens, seconds, None, None

    return timed


def build_methods(target, draft, eos: frozenset[int]) -> dict[str, Decode]:
    from decoders import Engine
    from decoders.drafters import DraftModelDrafter, NgramDrafter, TokenRecycling, default_drafter

    engine, tokenizer = Engine(target.model), target.tokenizer  # makes the model batch-invariant first
    vocab = target.model.config.vocab_size
    draft_engine = Engine(draft.model) if draft is not None else None
    methods: dict[str, Decode] = {
        BASELINE: _theirs(hf_greedy, target.model, eos=eos),
        "transformers prompt lookup": _theirs(hf_prompt_lookup, target.model, eos=eos),
    }
    if draft is not None:
        methods["transformers assisted (draft model)"] = _theirs(hf_assisted, target.model, draft.model, eos=eos)
    methods["ours, no speculation"] = _ours(engine, tokenizer, eos, None)
    methods["ours + n-gram"] = _ours(engine, tokenizer, eos, NgramDrafter)
    methods["ours + token recycling"] = _ours(engine, tokenizer, eos, lambda: TokenRecycling(vocab))
    if draft_engine is not None:
        methods["ours + draft model"] = _ours(engine, tokenizer, eos, lambda: DraftModelDrafter(draft_engine))

    methods["ours, adaptive union (default)"] = _ours(engine, tokenizer, eos, lambda: default_drafter(vocab, draft_engine))
    return methods


def run_workload(name: str, prompts: list[Prompt], methods: dict[str, Decode], tokenizer, repeat: int, progress) -> WorkloadResult:
    result = WorkloadResult(name)
    for prompt in prompts:
        ids = tokenizer(prompt.prompt)["input_ids"]
        budget = prompt.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        for method, decode in methods.items():
            trials = [decode(ids, budget) for _ in range(repeat)]
            tokens, _, passes, accepted = trials[0]
            seconds = statistics.median(t[1] for t in trials)
            result.runs.append(Run(method, prompt.id, tokens, seconds, passes, accepted))
            progress(f"{name} {prompt.id}: {method} {len(tokens) / seconds:.1f} tok/s")
    result.methods = summarize(result.runs, list(methods))
    return result


def summarize(runs: list[Run], methods: list[str]) -> list[MethodSummary]:
    baseline = {r.prompt: r for r in runs if r.method == BASELINE}
    out = []
    for method in methods:
        mine = [r for r in runs if r.method == method]
        ratios = [r.tokens_per_second / baseline[r.prompt].tokens_per_second for r in mine if baseline[r.prompt].tokens_per_second > 0]
        passes = sum(r.forward_passes or 0 for r in mine)
        accepted = sum(r.accepted or 0 for r in mine)
        out.append(
            MethodSummary(
                method=method,
                tokens_per_second=statistics.median(r.tokens_per_second for r in mine),
                ratio=statistics.median(ratios) if ratios else 0.0,
                accepted_per_pass=accepted / passes if passes else None,
                identical=sum(r.tokens == baseline[r.prompt].tokens for r in mine),
                prompts=len(mine),
            )
        )
    return out


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


def benchmark(
    target,
    draft,
    files: list[tuple[str, Path]],
    limit: int | None = None,
    repeat: int = 1,
    progress: Callable[[str], None] = lambda _: None,
) -> dict:
    workloads = [(name, load_prompts(path)[:limit] if limit else load_prompts(path)) for name, path in files]
    tokenizer = target.tokenizer
    eos = frozenset(t for t in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|endoftext|>")) if isinstance(t, int) and t >= 0)
    methods = build_methods(target, draft, eos)
    warm = tokenizer("def warm_up():\n")["input_ids"]
    for decode in methods.values():  # one untimed run each: kernel set-up is not decoding speed
        decode(warm, 8)
    results = [run_workload(name, prompts, methods, tokenizer, repeat, progress) for name, prompts in workloads]
    return {
        "setup": {
            "model": target.name,
            "draft_model": draft.name if draft is not None else None,
            "dtype": str(target.dtype).removeprefix("torch."),
            "device": str(target.device),
            "repetitions": repeat,
            "timing": "wall clock of one greedy decoding call, prefill included; median of the repetitions",
            "machine": describe(),
            "workloads": {name: {"file": str(path), "prompts": len(p)} for (name, path), (_, p) in zip(files, workloads)},
        },
        "workloads": [
            {"workload": r.workload, "methods": [asdict(m) for m in r.methods], "runs": [_run_json(run) for run in r.runs]} for r in results
        ],
    }


def _run_json(run: Run) -> dict:
    return {
        "method": run.method,
        "prompt": run.prompt,
        "new_tokens": len(run.tokens),
        "seconds": round(run.seconds, 4),
        "tokens_per_second": round(run.tokens_per_second, 2),
        "forward_passes": run.forward_passes,
        "accepted": run.accepted,
    }


def report(result: dict):
    """The result as a rich table, one section per workload."""
    from rich.table import Table

    setup = result["setup"]
    machine = setup["machine"]
    title = (
        f"{setup['model']} ({setup['dtype']}, {setup['device']})"
        + (f", draft {setup['draft_model']}" if setup["draft_model"] else "")
        + f"; {machine['cpu']}, {machine['cores']} cores; torch {machine['torch']}, transformers {machine['transformers']}; "
        + f"{setup['timing']}, {setup['repetitions']} repetition(s)"
    )
    table = Table(title=title, title_justify="left")
    for column in ("workload", "method", "tok/s (median)", "× transformers greedy (median)", "accepted / pass", "identical text"):
        table.add_column(column, justify="left" if column in ("workload", "method") else "right")
    for workload in result["workloads"]:
        for i, m in enumerate(workload["methods"]):
            accepted = "–" if m["accepted_per_pass"] is None else f"{m['accepted_per_pass']:.2f}"
            name = f"{workload['workload']} ({m['prompts']})" if i == 0 else ""
            table.add_row(name, m["method"], f"{m['tokens_per_second']:.1f}", f"{m['ratio']:.2f}", accepted, f"{m['identical']}/{m['prompts']}")
        table.add_section()
    return table
