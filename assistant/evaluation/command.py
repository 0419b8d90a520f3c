"""The `guidecode eval` command's two ends: settings from its arguments, and the report (a rich
table, or one JSON object on stdout). The run itself is harness.run_evaluation."""

from __future__ import annotations

import argparse
import json

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
