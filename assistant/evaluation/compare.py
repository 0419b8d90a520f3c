"""`guidecode compare RUN...`: eval runs side by side, as ratios to the first.

Runs are compared on the tasks every one of them has finished, so a run still going (or stopped
half-way) is compared fairly with whole ones: the line above the table says on how many. Per run:
pass@1 (the mean over tasks of the share of samples passing), the answers passing, generation
time and tokens summed over those tasks, the share of decoding steps that paused (reranking
decoders), and how many answers differ from the first run's (sample 0, by text).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.table import Table

from ..errors import GuidecodeError
from .store import CONFIG, RunStore


@dataclass(frozen=True)
class Row:
    run: str
    decoder: str
    model: str
    pass_at_1: float
    passed: int  # answers passing (all samples)
    answers: int
    seconds: float  # generation, summed
    tokens: int
    paused_share: float | None
    differ: int  # answers (sample 0) whose text differs from the first run's
    pass_ratio: float | None  # to the first run
    time_ratio: float | None


@dataclass(frozen=True)
class Comparison:
    tasks: int  # the tasks every run finished
    partial: tuple[str, ...]  # runs that have not finished the dataset (by their summary)
    rows: tuple[Row, ...]


def compare(folders: list[Path]) -> Comparison:
    if not folders:
        raise GuidecodeError("name at least one run folder (runs/eval/...)")
    runs = [(folder, _config(folder), RunStore(folder).records()) for folder in folders]
    shared = set.intersection(*({task for task, _ in records} for _, _, records in runs))
    if not shared:
        raise GuidecodeError("the runs share no finished task: nothing to compare")
    base = runs[0][2]
    rows: list[Row] = []
    first_rate = 0.0
    ratio = lambda a, b, digits: round(a / b, digits) if b else None  # noqa: E731
    for folder, config, records in runs:
        kept = {k: r for k, r in records.items() if k[0] in shared}
        rate = _pass_rate(kept)
        row = _row(folder, config, kept, base, rate)
        first_rate = first_rate if rows else rate
        first_seconds = rows[0].seconds if rows else row.seconds
        # The pass ratio comes from the unrounded rates: a ratio of rounded rates, rounded again for
        # display, can land on the wrong side of the last digit shown (138/132 read 1.04x).
        fields = {"pass_ratio": ratio(rate, first_rate, 4), "time_ratio": ratio(row.seconds, first_seconds, 3)}
        rows.append(Row(**{**asdict(row), **fields}))
    partial = tuple(str(f) for f, _, records in runs if not _finished(f, records))
    return Comparison(len(shared), partial, tuple(rows))


def _config(folder: Path) -> dict:
    path = folder / CONFIG
    if not path.is_file():
        raise GuidecodeError(f"{folder} is not an eval run folder ({CONFIG} is missing)")
    return json.loads(path.read_text())


def _finished(folder: Path, records: dict) -> bool:
    summary = folder / "summary.json"
    if not summary.is_file():
        return False
    data = json.loads(summary.read_text())
    return len({task for task, _ in records}) >= data.get("n_tasks", 0) and data.get("n_tasks", 0) > 0


def _pass_rate(records: dict) -> float:
    """pass@1: over tasks, the mean share of a task's samples that pass."""
    by_task: dict[str, list[dict]] = {}
    for (task, _), record in records.items():
        by_task.setdefault(task, []).append(record)
    return sum(sum(r["result"]["status"] == "passed" for r in rs) / len(rs) for rs in by_task.values()) / len(by_task)


def _row(folder: Path, config: dict, records: dict, base: dict, rate: float) -> Row:
    """One run's row on the shared tasks (`rate`: their unrounded pass@1); its ratios come later."""
    steps = sum(r.get("steps", 0) for r in records.values())
    differ = sum(r["completion"] != base[k]["completion"] for k, r in records.items() if k[1] == 0 and k in base)
    return Row(
        run=folder.name,
        decoder=config.get("decoder", "?"),
        model=str(config.get("model", "")),
        pass_at_1=round(rate, 4),
        passed=sum(r["result"]["status"] == "passed" for r in records.values()),
        answers=len(records),
        seconds=round(sum(r["seconds"] for r in records.values()), 1),
        tokens=sum(r["tokens"] for r in records.values()),
        paused_share=round(sum(r.get("paused", 0) for r in records.values()) / steps, 4) if steps else None,
        differ=differ,
        pass_ratio=None,
        time_ratio=None,
    )


def table(comparison: Comparison) -> Table:
    result = Table(title=_caption(comparison))
    for column in ("run", "pass@1", "passed", "vs first", "generation", "vs first", "tokens", "paused", "differ"):
        result.add_column(column, justify="left" if column == "run" else "right")
    for row in comparison.rows:
        result.add_row(*_cells(row))
    return result


def markdown(comparison: Comparison) -> str:
    lines = [
        _caption(comparison),
        "",
        "| run | pass@1 | passed | vs first | generation | vs first | tokens | paused | differ |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in comparison.rows]
    return "\n".join(lines)


def _caption(comparison: Comparison) -> str:
    partial = f"; not finished: {', '.join(Path(p).name for p in comparison.partial)}" if comparison.partial else ""
    return f"on the {comparison.tasks} tasks every run finished{partial}"


def _cells(row: Row) -> tuple[str, ...]:
    times = lambda r: f"{r:.2f}x" if r is not None else "–"  # noqa: E731
    paused = f"{row.paused_share:.1%}" if row.paused_share is not None else ""
    return (
        row.run,
        f"{row.pass_at_1:.1%}",
        f"{row.passed}/{row.answers}",
        times(row.pass_ratio),
        f"{row.seconds:.0f} s",
        times(row.time_ratio),
        str(row.tokens),
        paused,
        str(row.differ),
    )
