"""Learned entropy thresholds for uncertainty-adaptive decoding, stored per model and tokenizer.

A threshold holds for one model's distributions, so it is keyed by the model's name and a
fingerprint of its tokenizer's vocabulary (two models that merely share a name, or a tokenizer
retrained under the same name, do not share a threshold). Two stores are read, the user's first:
`thresholds.json` in the guidecode cache (`guidecode calibrate` writes it), then the one shipped
in this package for the embedded models.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from . import embedded
from .errors import GuidecodeError

SHIPPED = Path(__file__).with_name("thresholds.json")
FORMAT = 1


@dataclass(frozen=True)
class CorpusSummary:
    packages: tuple[str, ...]  # "name version"
    files: int
    tokens: int
    seed: int

    def describe(self) -> str:
        return f"{self.files} files, {self.tokens} tokens of {', '.join(self.packages)} (seed {self.seed})"


@dataclass(frozen=True)
class FitStats:
    method: str  # "logistic": where P(greedy wrong | H) crosses 0.5; "youden": the curve did not, max TPR - FPR instead
    intercept: float  # the logistic fit: P(greedy wrong | H) = sigmoid(intercept + slope * H)
    slope: float
    share_above: float  # of positions with H > threshold
    error_above: float | None  # greedy's error rate at those positions (None: there are none)
    error_below: float | None  # and at the others
    error_rate: float  # over all positions
    auroc: float  # of H as a predictor of "greedy wrong"
    entropy_min: float
    entropy_max: float


@dataclass(frozen=True)
class Threshold:
    value: float  # nats: a step is uncertain when its entropy is above this
    model: str
    fingerprint: str  # tokenizer_fingerprint()
    corpus: CorpusSummary
    positions: int  # scored positions (tokens predicted from their prefix)
    stats: FitStats
    dtype: str  # the dtype the model ran in while calibrating

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, record: dict) -> Threshold:
        corpus: dict[str, Any] = dict(record["corpus"], packages=tuple(record["corpus"]["packages"]))
        return cls(**{**record, "corpus": CorpusSummary(**corpus), "stats": FitStats(**record["stats"])})


def tokenizer_fingerprint(tokenizer) -> str:
    """The first 16 hex digits of the sha256 of the sorted (token, id) pairs, added tokens included."""
    vocab = sorted(tokenizer.get_vocab().items())
    return hashlib.sha256(json.dumps(vocab, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def model_key(name: str) -> str:
    """The name a threshold is stored under: an embedded model's own title for any of its spellings."""
    model = embedded.lookup(name)
    return model.title if model is not None else name


def user_store() -> Path:
    return embedded.cache_root() / "thresholds.json"


def read_store(path: Path) -> list[Threshold]:
    """The thresholds in `path`; none when the file does not exist."""
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
        return [Threshold.from_json(record) for record in data["thresholds"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise GuidecodeError(f"{path} is not a thresholds file ({error}); delete it and run `guidecode calibrate` again") from None


def save_threshold(threshold: Threshold, path: Path | None = None) -> Path:
    """Add `threshold` to the store at `path` (default: the user's), replacing one for the same
    model and tokenizer; the file is replaced whole, so a reader never sees half of it."""
    path = path or user_store()
    kept = [t for t in read_store(path) if (t.model, t.fingerprint) != (threshold.model, threshold.fingerprint)]
    records = sorted(kept + [threshold], key=lambda t: (t.model, t.fingerprint))
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    text = json.dumps({"format": FORMAT, "thresholds": [t.to_json() for t in records]}, indent=2)
    partial.write_text(text + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def entropy_threshold(model_name: str, tokenizer) -> Threshold | None:
    """The threshold learned for this model and tokenizer: the user's cache first, then the shipped
    one; None when neither has it (then run `guidecode calibrate --model NAME`)."""
    key, fingerprint = model_key(model_name), tokenizer_fingerprint(tokenizer)
    for path in (user_store(), SHIPPED):
        for threshold in read_store(path):
            if (threshold.model, threshold.fingerprint) == (key, fingerprint):
                return threshold
    return None
