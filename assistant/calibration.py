"""`guidecode calibrate`: learn the entropy above which a model's greedy choice is likely wrong.

AdaDec (uncertainty-guided adaptive decoding) pauses to look ahead only at steps whose next-token
entropy H is above a threshold learned per model. The model reads real third-party code
(assistant/corpus.py) under teacher forcing; at every position we record H of its next-token
distribution and whether its argmax differs from the true next token. As in the paper, a 1-D
logistic regression P(greedy wrong | H) is fitted and the threshold is the H where it crosses
0.5; when the curve does not cross 0.5 inside the observed range of H, the threshold is the H
that maximises Youden's J (TPR - FPR) instead, and the result says so.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from rich.console import Console

from .corpus import Corpus, build_corpus, check_package
from .errors import GuidecodeError
from .loading import LoadedModel, dtype_name, load_model
from .progress import Progress
from .teacher_forcing import score_window, token_entropy
from .thresholds import CorpusSummary, FitStats, Threshold, entropy_threshold, model_key, save_threshold, tokenizer_fingerprint

if TYPE_CHECKING:
    pass

__all__ = ["Calibration", "calibrate", "entropy_threshold", "fit_threshold", "score_window", "token_entropy"]


@dataclass(frozen=True)
class Calibration:
    threshold: Threshold
    seconds: float
    device: str


# --- the fit ---------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


def fit_logistic(h: np.ndarray, wrong: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(intercept, slope) of P(wrong | h) = sigmoid(intercept + slope * h), by Newton's method.

    A tiny ridge keeps the Hessian invertible when the classes are separable (then the slope
    grows with every iteration, but the crossing settles at the boundary)."""
    x = np.stack([np.ones_like(h, dtype=np.float64), h.astype(np.float64)], axis=1)  # [n, 2]
    y = wrong.astype(np.float64)  # [n]
    ridge = 1e-9 * len(y) * np.eye(2)
    w = np.zeros(2)
    for _ in range(iterations):
        p = _sigmoid(x @ w)  # [n]
        gradient = x.T @ (p - y) + ridge @ w
        hessian = (x.T * (p * (1.0 - p))) @ x + ridge  # [2, 2]
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def youden_threshold(h: np.ndarray, wrong: np.ndarray) -> float:
    """The t maximising TPR - FPR of the rule "wrong when h > t", over the observed values of h."""
    candidates = np.unique(h)  # ascending
    at_or_below_wrong = np.searchsorted(np.sort(h[wrong]), candidates, side="right")
    at_or_below_right = np.searchsorted(np.sort(h[~wrong]), candidates, side="right")
    tpr = 1.0 - at_or_below_wrong / wrong.sum()
    fpr = 1.0 - at_or_below_right / (~wrong).sum()
    return float(candidates[np.argmax(tpr - fpr)])


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties count half):
    the Mann-Whitney U statistic over mid-ranks."""
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    ranks = (starts + (counts + 1) / 2.0)[inverse]  # 1-based mid-ranks, [n]
    positives, negatives = int(labels.sum()), int((~labels).sum())
    return float((ranks[labels].sum() - positives * (positives + 1) / 2.0) / (positives * negatives))


def fit_threshold(h: np.ndarray, wrong: np.ndarray) -> tuple[float, FitStats]:
    """The threshold and how well it separates; `h` [n] entropies, `wrong` [n] bool."""
    wrong = wrong.astype(bool)
    if wrong.all() or not wrong.any():
        raise GuidecodeError(
            f"greedy was {'wrong' if wrong.all() else 'right'} at all {len(h)} positions, so no threshold separates them; calibrate on more tokens (--tokens)"
        )
    intercept, slope = fit_logistic(h, wrong)
    crossing = -intercept / slope if slope > 0 else float("nan")
    method, value = "logistic", crossing
    if not h.min() <= crossing <= h.max():  # also false for nan
        method, value = "youden", youden_threshold(h, wrong)
    above = h > value
    stats = FitStats(
        method=method,
        intercept=intercept,
        slope=slope,
        share_above=float(above.mean()),
        error_above=_rate(wrong[above]),
        error_below=_rate(wrong[~above]),
        error_rate=float(wrong.mean()),
        auroc=auroc(h, wrong),
        entropy_min=float(h.min()),
        entropy_max=float(h.max()),
    )
    return float(value), stats


def _rate(flags: np.ndarray) -> float | None:
    return float(flags.mean()) if len(flags) else None


# --- a run -----------------------------------------------------------------------------------


def calibrate(
    loaded: LoadedModel, corpus: Corpus, progress: Progress | None = None, scores: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None
) -> Calibration:
    """Teacher-force `loaded` over `corpus` and fit its threshold (nothing is saved). `scores`:
    each window's (entropies, greedy wrong) in the corpus's order, computed elsewhere (Ray
    workers); by default `loaded` scores them here."""
    progress = progress or Progress.silent()
    start = time.perf_counter()
    entropies, wrong = [], []
    scored = scores if scores is not None else (score_window(loaded.model, window.tokens) for window in corpus.windows)
    with progress.count(f"calibrating {loaded.name}: tokens read", corpus.tokens) as advance:
        for window, (h, w) in zip(corpus.windows, scored, strict=True):
            entropies.append(h)
            wrong.append(w)
            advance(len(window.tokens), window.file)
    h, w = torch.cat(entropies).numpy(), torch.cat(wrong).numpy()  # [positions]
    value, stats = fit_threshold(h, w)
    summary = CorpusSummary(corpus.packages, corpus.files, corpus.tokens, corpus.seed)
    threshold = Threshold(value, model_key(loaded.name), tokenizer_fingerprint(loaded.tokenizer), summary, len(h), stats, dtype_name(loaded.dtype))
    return Calibration(threshold, time.perf_counter() - start, loaded.device.type)


def command(args: argparse.Namespace, out: Console, err: Console) -> int:
    """`guidecode calibrate`: the packages are checked before the model loads."""
    for package in args.packages:
        check_package(package)
    progress = Progress.to_stderr()
    loaded = load_model(args.model, args.dtype, args.device, False, progress)
    with progress.phase("choosing the corpus"):
        corpus = build_corpus(loaded.tokenizer, args.packages, args.tokens, args.seed)
    if corpus.tokens < 2:
        raise GuidecodeError(f"no readable source files in {', '.join(args.packages)}; pass other packages to --packages")
    scores = None
    if args.ray is None and (args.workers is not None or args.worker_threads != 1):
        raise GuidecodeError("--workers and --worker-threads go with --ray")
    if args.ray is not None:
        from .calibration_ray import scores_on_ray
        from .cluster import RayPlan

        scores = scores_on_ray(RayPlan(args.ray, args.workers, args.worker_threads), args.model, args.dtype, args.device, corpus.windows)
    result = calibrate(loaded, corpus, progress, scores)
    saved = None if args.no_save else save_threshold(result.threshold)
    if args.json:
        print(json.dumps(as_json(result, saved)))
    else:
        out.print(report(result, saved), markup=False, highlight=False, soft_wrap=True)
    return 0


def as_json(result: Calibration, saved: Path | None) -> dict:
    t = result.threshold
    return {
        "model": t.model,
        "dtype": t.dtype,
        "device": result.device,
        "fingerprint": t.fingerprint,
        "threshold": t.value,
        "method": t.stats.method,
        "positions": t.positions,
        "corpus": asdict(t.corpus),
        "stats": asdict(t.stats),
        "seconds": round(result.seconds, 2),
        "saved": str(saved) if saved else None,
    }


def report(result: Calibration, saved: Path | None) -> str:
    t, s = result.threshold, result.threshold.stats
    how = (
        "where the logistic fit of P(greedy wrong | H) crosses 0.5"
        if s.method == "logistic"
        else "by Youden's J: the logistic fit of P(greedy wrong | H) does not cross 0.5 in the observed range"
    )
    percent = lambda rate: "-" if rate is None else f"{100 * rate:.1f}%"  # noqa: E731
    lines = [
        f"model      {t.model} ({t.dtype}, {result.device}), tokenizer {t.fingerprint}",
        f"corpus     {t.corpus.describe()}; {t.positions} positions",
        f"threshold  H > {t.value:.3f} nats, {how}",
        f"above it   {percent(s.share_above)} of positions; greedy wrong {percent(s.error_above)} there, "
        f"{percent(s.error_below)} below (overall {percent(s.error_rate)})",
        f"AUROC      {s.auroc:.3f} (H as a predictor of a wrong greedy token; H ranges {s.entropy_min:.3f}-{s.entropy_max:.3f} nats)",
        f"time       {result.seconds:.1f} s",
        f"saved      {saved}" if saved else "saved      no (--no-save)",
    ]
    return "\n".join(lines)
