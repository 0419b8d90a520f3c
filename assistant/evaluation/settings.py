"""What one evaluation run is: dataset, decoder, samples and limits, checked; its default folder;
and the settings that change its results (saved with the run and compared when it resumes)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from ..embedded import DEFAULT_MODEL
from ..errors import GuidecodeError
from .datasets import Dataset
from .decoding import DECODERS, lookup

FORMAT = 1  # of the run folder's files; bumped when records change shape
PASS_AT = (1, 10, 100)  # the k reported, where k <= samples


class SettingsError(GuidecodeError):
    """A bad combination of options (the CLI reports it as a usage error)."""


@dataclass(frozen=True)
class EvalSettings:
    dataset: str = "humaneval"  # a built-in name or a .jsonl(.gz) file
    decoder: str = "greedy"
    samples: int | None = None  # per task; None: the decoder's default
    limit: int | None = None  # only the first N tasks
    model: str = DEFAULT_MODEL
    dtype: str = "auto"
    device: str = "auto"
    weights: str = "auto"  # auto, quantized or dense (assistant/quantize.py)
    max_tokens: int = 512
    temperature: float = 0.8  # sampling only
    top_p: float = 0.95  # sampling only
    seed: int = 0  # sampling only: each sample's seed derives from it, the task and the index
    beam_width: int = 4  # beam only
    threshold: float | None = None  # adadec: entropy threshold in nats; None: the model's learned one
    top_k: int = 3  # adadec: candidates per pause
    lookahead: int | None = None  # adadec: tokens per candidate (None: 5; adadec-syntactic: at most 16)
    scoring: str = "mean"  # adadec: of the lookahead's log-probabilities
    alpha: float = 0.5  # uscd: weight of the contrast
    rollouts: int = 16  # search and sample-filter: programs the model may write per task
    timeout_s: float = 10.0  # each program's run, tests included
    out: Path | None = None  # None: runs/eval/<dataset>-<decoder>[-r<rollouts>][-<model>]
    ray: str | None = None  # "auto" (a local cluster) or a Ray cluster's address: the tasks go to Ray workers
    workers: int | None = None  # with ray: how many (None: one per `worker_threads` CPUs of the cluster)
    worker_threads: int = 1  # with ray: CPUs and torch threads per worker

    def __post_init__(self) -> None:
        checks = [
            (self.samples is None or self.samples >= 1, f"--samples must be at least 1, got {self.samples}"),
            (self.limit is None or self.limit >= 1, f"--limit must be at least 1, got {self.limit}"),
            (self.max_tokens >= 1, f"--max-tokens must be at least 1, got {self.max_tokens}"),
            (self.temperature >= 0, f"--temperature must not be negative, got {self.temperature}"),
            (0 < self.top_p <= 1, f"--top-p must be in (0, 1], got {self.top_p}"),
            (self.beam_width >= 1, f"--beam-width must be at least 1, got {self.beam_width}"),
            (self.threshold is None or self.threshold >= 0, f"--threshold must be >= 0 nats, got {self.threshold}"),
            (self.top_k >= 2, f"--top-k must be at least 2, got {self.top_k}"),
            (self.alpha > 0, f"--alpha must be positive, got {self.alpha}"),
            (self.lookahead is None or self.lookahead >= 1, f"--lookahead must be at least 1, got {self.lookahead}"),
            (self.rollouts >= 1, f"--rollouts must be at least 1, got {self.rollouts}"),
            (self.timeout_s > 0, f"--timeout must be positive, got {self.timeout_s}"),
            (self.workers is None or self.workers >= 1, f"--workers must be at least 1, got {self.workers}"),
            (self.worker_threads >= 1, f"--worker-threads must be at least 1, got {self.worker_threads}"),
            (self.ray is not None or (self.workers is None and self.worker_threads == 1), "--workers and --worker-threads go with --ray"),
        ]
        for ok, message in checks:
            if not ok:
                raise SettingsError(message)

    def resolved(self) -> EvalSettings:
        """With the decoder's default number of samples; a deterministic decoder takes one only, and
        temperature 0 only a decoder reading it as greedy."""
        spec = lookup(self.decoder)
        if self.temperature == 0 and not spec.greedy_at_zero:
            takers = ", ".join(name for name, other in DECODERS.items() if other.greedy_at_zero)
            raise SettingsError(f"--temperature must be positive for {self.decoder} (0 is the greedy decoder; decoders that take 0, as greedy: {takers})")
        if self.samples is None:
            return replace(self, samples=spec.default_samples)
        if spec.deterministic and self.samples != 1:
            raise SettingsError(f"the {self.decoder} decoder is deterministic: --samples must be 1, got {self.samples} (use --decoder sampling)")
        return self

    def run_dir(self, dataset: Dataset) -> Path:
        if self.out is not None:
            return self.out
        spec = lookup(self.decoder)
        budget = [f"r{self.rollouts}"] if "rollouts" in spec.uses else []  # runs at several budgets sit side by side
        parts = [dataset.name, self.decoder, *budget] + ([_slug(self.model)] if spec.loads_model else [])
        return Path("runs") / "eval" / "-".join(parts)

    def recorded(self, dataset: Dataset) -> dict:
        """The settings that change the results: a run folder holds records of these only.
        Samples, limit and where it runs (Ray) are not among them: a run may be extended to more
        tasks or samples, and resumed with or without Ray."""
        spec = lookup(self.decoder)
        decoder = {name: getattr(self, name) for name in spec.uses}
        return {"format": FORMAT, "dataset": dataset.name, "dataset_sha256": dataset.sha256, "decoder": self.decoder, "timeout_s": self.timeout_s, **decoder}

    def decoder_settings(self) -> dict:
        return {name: getattr(self, name) for name in lookup(self.decoder).uses}


def _slug(model: str) -> str:
    """A folder-name form of a model: its file or folder name, or a hub id with '/' as '--'."""
    path = Path(model)
    name = path.name.removesuffix(".gguf") if path.exists() else model.replace("/", "--")
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "model"
