"""The `guidecode eval` command's two ends: settings from its arguments, and the report (a rich
table, or one JSON object on stdout). The run itself is harness.run_evaluation. Also `guidecode
compare`, which reads run folders (evaluation/compare.py)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from ..progress import Progress
from .harness import run_evaluation
from .settings import EvalSettings
from .summary import json_line, table


def settings_from_args(args: argparse.Namespace) -> EvalSettings:
    """Raises SettingsError for a bad combination (e.g. --samples 5 with a deterministic decoder)."""
    return EvalSettings(
        dataset=args.dataset, decoder=args.decoder, samples=args.samples, limit=args.limit, model=args.model,
        dtype=args.dtype, device=args.device, max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p,
        seed=args.seed, beam_width=args.beam_width,
        threshold=args.threshold, top_k=args.top_k, lookahead=args.lookahead, scoring=args.scoring, alpha=args.alpha, rollouts=args.rollouts, timeout_s=args.timeout, out=args.out,
    ).resolved()


def run(settings: EvalSettings, as_json: bool, out: Console, err: Console) -> int:
    say = lambda line: err.print(line, style="dim", markup=False, highlight=False, soft_wrap=True)  # noqa: E731
    summary = run_evaluation(settings, Progress.to_stderr(), say)
    if as_json:
        print(json.dumps(json_line(summary)))
    else:
        out.print(table(summary))
    return 0


def add_compare_parser(commands) -> None:
    compare = commands.add_parser("compare", help="eval runs side by side, as ratios to the first (on the tasks all finished)")
    compare.add_argument("runs", nargs="+", type=Path, metavar="RUN", help="run folders (runs/eval/...); the first is the base")
    compare.add_argument("--markdown", action="store_true", help="print a Markdown table")
    compare.add_argument("--json", action="store_true", help="print one JSON object")


def cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from . import compare

    comparison = compare.compare(args.runs)
    if args.json:
        print(json.dumps(asdict(comparison)))
    elif args.markdown:
        print(compare.markdown(comparison))
    else:
        out.print(compare.table(comparison))
    return 0
