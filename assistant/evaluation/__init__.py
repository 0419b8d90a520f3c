"""`guidecode eval`: pass@k of a decoder on tasks in HumanEval's format, every candidate run in the sandbox.

datasets (tasks from .jsonl files) → decoding (the decoders by name) → runner (generate, run,
save) → store (the run folder, resumable) → summary (pass@k, table, JSON); harness ties them.
"""

from . import guided  # noqa: F401,E402 (registers search and sample-filter)
from .datasets import Dataset, Task, load_dataset
from .decoding import DECODERS, Candidate, Decoder, DecoderSpec, register
from .harness import run_evaluation
from .passk import mean_pass_at_k, pass_at_k
from .settings import EvalSettings, SettingsError

__all__ = [
    "DECODERS",
    "Candidate",
    "Dataset",
    "Decoder",
    "DecoderSpec",
    "EvalSettings",
    "SettingsError",
    "Task",
    "load_dataset",
    "mean_pass_at_k",
    "pass_at_k",
    "register",
    "run_evaluation",
]
