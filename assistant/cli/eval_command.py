"""The `guidecode eval` command's ends: its parser, settings from its arguments, and the report (a
rich table, or one JSON object on stdout). The run itself is harness.run_evaluation. Also
`guidecode compare`, which reads run folders (evaluation/compare.py)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from ..evaluation.harness import run_evaluation
from ..evaluation.settings import EvalSettings
from ..evaluation.summary import json_line, table
from ..progress import Progress
from .args import add_ray_flags, positive_int
from .flags import add_flags

EVAL_OPTIONS = (
    "model",
    "dtype",
    "device",
    "weights",
    "max_tokens",
    "temperature",
    "top_p",
    "seed",
    "beam_width",
    "threshold",
    "top_k",
    "lookahead",
    "scoring",
    "alpha",
    "search_rollouts",
)


def settings_from_args(args: argparse.Namespace) -> EvalSettings:
    """Raises SettingsError for a bad combination (e.g. --samples 5 with a deterministic decoder)."""
    return EvalSettings(
        dataset=args.dataset,
        decoder=args.decoder,
        samples=args.samples,
        limit=args.limit,
        model=args.model,
        dtype=args.dtype,
        device=args.device,
        weights=args.weights,
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        beam_width=args.beam_width,
        threshold=args.threshold,
        top_k=args.top_k,
        lookahead=args.lookahead,
        scoring=args.scoring,
        alpha=args.alpha,
        rollouts=args.search_rollouts,
        timeout_s=args.timeout,
        out=args.out,
        ray=args.ray,
        workers=args.workers,
        worker_threads=args.worker_threads,
    ).resolved()


def run(settings: EvalSettings, as_json: bool, out: Console, err: Console) -> int:
    say = lambda line: err.print(line, style="dim", markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    summary = run_evaluation(settings, Progress.to_stderr(), say)
    if as_json:
        print(json.dumps(json_line(summary)))
    else:
        out.print(table(summary))
    return 0


def add_eval_parser(commands) -> None:
    from ..evaluation.decoding import DECODERS

    names = "; ".join(f"{n}: {spec.help}" for n, spec in DECODERS.items())
    p = commands.add_parser("eval", help="pass@k of a decoder on HumanEval or a JSONL file of tasks, run in the sandbox")
    p.add_argument(
        "--dataset",
        required=True,
        metavar="humaneval|FILE",
        help="humaneval, or a .jsonl(.gz) file of {task_id, prompt, test, entry_point[, canonical_solution]}",
    )
    p.add_argument("--decoder", choices=list(DECODERS), default="greedy", help=f"{names} (default: %(default)s)")
    p.add_argument("--samples", type=positive_int, help="samples per task (default: 10 for sampling; greedy, beam and canonical take 1 only)")
    p.add_argument("--limit", type=positive_int, help="only the first N tasks")
    # Sampling decoders sample (temperature 0.8), the beam decoder has beams; each sample's seed
    # derives from --seed, the task and the sample's index; search and sample-filter write at most
    # --rollouts programs per task.
    add_flags(p, EVAL_OPTIONS, {"max_tokens": 512, "temperature": 0.8, "top_p": 0.95, "seed": 0, "beam_width": 4})
    p.add_argument("--timeout", type=float, default=10.0, help="seconds each program may run with its tests (default: %(default)s)")
    p.add_argument("--out", type=Path, help="run folder; an interrupted run resumes from it (default: runs/eval/<dataset>-<decoder>[-r<rollouts>]-<model>)")
    add_ray_flags(p, "run the tasks on Ray workers, each loading the model once; records still go to one run folder, resumable as without")
    p.add_argument("--json", action="store_true", help="print one JSON object: dataset, decoder, model, n_tasks, done, pass@k, seconds, tokens")


def add_compare_parser(commands) -> None:
    compare = commands.add_parser("compare", help="eval runs side by side, as ratios to the first (on the tasks all finished)")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (runs/eval/...); the first is the base")
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..evaluation import compare

    comparison = compare.compare(args.runs)
    if args.json:
        print(json.dumps(asdict(comparison)))
    elif args.markdown:
        print(compare.markdown(comparison))
    else:
        out.print(compare.table(comparison))
    return 0
