"""A run's results: per-task pass counts, pass@k, totals; as summary.json, a table, or one JSON line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from rich.table import Table

from .datasets import Task
from .passk import mean_pass_at_k
from .settings import PASS_AT
from .store import Key


def pass_keys(samples: int) -> list[str]:
    return [f"pass@{k}" for k in PASS_AT if k <= samples]


def summarize(tasks: Sequence[Task], samples: int, records: dict[Key, dict]) -> dict:
    """What the records of `tasks` × `samples` say; a task missing records counts those it has
    (`done` says how many there are)."""
    per_task, chosen = {}, []
    for task in tasks:
        mine = [records[(task.task_id, s)] for s in range(samples) if (task.task_id, s) in records]
        per_task[task.task_id] = {"samples": len(mine), "passed": sum(r["result"]["status"] == "passed" for r in mine)}
        chosen += mine
    counted = [(t["samples"], t["passed"]) for t in per_task.values() if t["samples"]]
    scores = {f"pass@{k}": round(mean_pass_at_k(counted, k), 6) for k in PASS_AT if k <= samples} if counted else {}
    steps = sum(r.get("steps", 0) for r in chosen)
    paused = {"paused_share": round(sum(r.get("paused", 0) for r in chosen) / steps, 4)} if steps else {}
    guided = _guided(chosen)
    return {
        "n_tasks": len(tasks),
        "samples": samples,
        "done": len(chosen),
        **scores,
        "tokens": sum(r["tokens"] for r in chosen),
        "seconds": round(sum(r["seconds"] for r in chosen), 3),  # generation, summed over samples
        "execution_seconds": round(sum(r["result"]["wall_s"] for r in chosen), 3),
        "statuses": dict(Counter(r["result"]["status"] for r in chosen)),
        **paused,  # reranking decoders: the share of decoding steps that paused to look ahead
        **guided,  # test-guided decoders: programs written, answers passing their public tests
        "tasks": per_task,
    }


def _guided(records: list[dict]) -> dict:
    """Test-guided decoders' totals: programs the model wrote, tasks with public tests, answers
    passing all of them, and (search) answers whose fresh re-run disagreed with the search."""
    public = [r["public"] for r in records if r.get("public") and r["public"][1] > 0]
    if not any(r.get("rollouts") for r in records):
        return {}
    reruns = [r for r in records if r.get("public_rerun") is not None and r.get("public")]
    return {
        "rollouts": sum(r.get("rollouts", 0) for r in records),
        "with_public_tests": len(public),
        "public_solved": sum(p[0] == p[1] for p in public),
        "rerun_disagreements": sum(r["public_rerun"] != r["public"][0] for r in reruns),
    }


def json_line(summary: dict) -> dict:
    keys = ["dataset", "decoder", "model", "n_tasks", "samples", "done", *pass_keys(summary["samples"]), "seconds", "tokens", "out"]
    return {key: summary.get(key) for key in keys} | ({"paused_share": summary["paused_share"]} if "paused_share" in summary else {})


def table(summary: dict) -> Table:
    result = Table(title=f"guidecode eval: {summary['dataset']}, {summary['decoder']}", show_header=False)
    result.add_column(style="bold")
    result.add_column()
    rows = [
        ("model", _model(summary)),
        ("tasks × samples", _size(summary)),
        *((key, f"{summary[key]:.2%}") for key in pass_keys(summary["samples"]) if key in summary),
        ("statuses", ", ".join(f"{n} {status}" for status, n in sorted(summary["statuses"].items()))),
        ("generation", f"{summary['tokens']} tokens in {summary['seconds']:.1f} s"),
        *((("paused steps", f"{summary['paused_share']:.1%}"),) if "paused_share" in summary else ()),
        *((("test-guided", _guided_line(summary)),) if "rollouts" in summary else ()),
        ("execution", f"{summary['execution_seconds']:.1f} s in the sandbox ({summary['sandbox']})"),
        ("this invocation", f"{summary['new']} samples in {summary['wall_seconds']:.1f} s ({summary['resumed']} resumed)"),
        ("run folder", summary["out"]),
    ]
    for name, value in rows:
        result.add_row(name, str(value))
    return result


def _size(summary: dict) -> str:
    size = f"{summary['n_tasks']} × {summary['samples']}"
    missing = summary["n_tasks"] * summary["samples"] - summary["done"]
    return size + (f" ({missing} not done yet: the scores are over the {summary['done']} done)" if missing else "")


def _guided_line(summary: dict) -> str:
    return (
        f"{summary['rollouts']} programs written; {summary['public_solved']} of {summary['with_public_tests']} answers "
        f"pass their public tests ({summary['rerun_disagreements']} disagree when re-run)"
    )


def _model(summary: dict) -> str:
    if summary.get("model") is None:
        return "none"
    return f"{summary['model']} ({summary.get('dtype')}, {summary.get('device')})"
