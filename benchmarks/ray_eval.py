"""`python -m benchmarks.ray_eval`: one evaluation run plainly and through Ray with one and two
workers, side by side in one process, on one machine: wall time, whether every run folder holds the
same records, and the overhead per task of going through Ray.

Runs (each into its own temporary run folder, one after another, nothing resumed):
- plain: `guidecode eval` as without Ray (one process, torch's threads over the machine's cores);
- ray, 1 worker of 1 thread; ray, 1 worker of all the cores' threads; ray, 1 worker per core of
  1 thread each (`--ray auto --workers N --worker-threads T`), each on a local cluster started for it.
The overhead: the canonical decoder (no model: each task's reference solution runs in the sandbox)
plainly and through one Ray worker; (Ray's wall time - the plain wall time) / tasks.

Records are compared without their timings (completion, program, tokens, stop reason, seed,
sandbox status): each run names the earlier runs whose records its own equal. Every run is expected
to equal every other: a prompt's prefill gives the same bits with any number of threads
(decoders/kernels/wide_linear.cpp) and each task is prefilled from scratch (Assistant.forget).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from assistant.evaluation import EvalSettings, run_evaluation

KEPT = ("task_id", "sample", "completion", "program", "tokens", "stop_reason", "seed")


def records(root: Path) -> list[dict]:
    lines = (root / "samples.jsonl").read_text().splitlines()
    kept = ({k: r[k] for k in KEPT} | {"status": r["result"]["status"]} for r in map(json.loads, lines))
    return sorted(kept, key=lambda r: (r["task_id"], r["sample"]))


def timed(settings: EvalSettings) -> tuple[dict, float]:
    start = time.perf_counter()
    summary = run_evaluation(settings)
    return summary, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ray_eval", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="humaneval")
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    import torch

    arms = [("plain", torch.get_num_threads(), {}), ("ray, 1 worker x 1 thread", 1, {"ray": "auto", "workers": 1, "worker_threads": 1})]
    if cores > 1:
        arms += [
            (f"ray, 1 worker x {cores} threads", cores, {"ray": "auto", "workers": 1, "worker_threads": cores}),
            (f"ray, {cores} workers x 1 thread", 1, {"ray": "auto", "workers": cores, "worker_threads": 1}),
        ]
    rows, seen = [], []
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, threads, extra) in enumerate(arms):
            out = Path(scratch) / f"run{i}"
            summary, wall = timed(EvalSettings(dataset=args.dataset, model=args.model, limit=args.limit, out=out, **extra))
            got = records(out)
            same = [earlier for earlier, theirs in seen if theirs == got]
            seen.append((name, got))
            row = {"run": name, "threads_per_process": threads, "wall_s": round(wall, 1), "pass@1": summary["pass@1"], "tasks": summary["n_tasks"]}
            rows.append({**row, "records_equal_to": same})
            print(json.dumps(rows[-1]), flush=True)
        overhead = []
        for i, extra in enumerate(({}, {"ray": "auto", "workers": 1, "worker_threads": 1})):
            _, wall = timed(EvalSettings(dataset=args.dataset, decoder="canonical", limit=args.limit, out=Path(scratch) / f"canonical{i}", **extra))
            overhead.append(wall)
    tasks = rows[0]["tasks"]
    one = next(r for r in rows if r["run"] == "ray, 1 worker x 1 thread")["wall_s"]
    from .environment import describe, write_result
    from .scope_parse import machine_kind

    result = {
        "machine_kind": machine_kind(),
        **describe(),
        "how": f"python -m benchmarks.ray_eval --dataset {args.dataset} --model {args.model}"
        + (f" --limit {args.limit}" if args.limit else "")
        + f": guidecode eval greedy on {tasks} tasks, plainly and through a local Ray cluster (Ray started per run), one after another in one process, "
        f"nothing else running; {cores} cores; wall time of each whole run (model loading and Ray's start included)",
        "runs": rows,
        "two_workers_over_one": round(rows[-1]["wall_s"] / one, 3) if cores > 1 else None,
        "ray_overhead_per_task_s": round((overhead[1] - overhead[0]) / tasks, 4),
        "canonical_wall_s": {"plain": round(overhead[0], 2), "ray, 1 worker": round(overhead[1], 2)},
    }
    write_result(args.out, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
