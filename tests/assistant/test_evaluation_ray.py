"""`guidecode eval --ray`: a run on a local Ray cluster with two workers (tiny model saved to disk)
writes the run folder a plain run writes, and a worker killed mid-run loses nothing."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from assistant.evaluation import EvalSettings, run_evaluation
from assistant.evaluation.distributed import NAMESPACE

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster and model-loading workers

CHECK = "def check(candidate):\n"
TASKS = [
    {"task_id": f"toy/add{i}", "prompt": f'def add{i}(a, b):\n    """Return a + b + {i}."""\n', "canonical_solution": f"    return a + b + {i}\n",
     "test": CHECK + f"    assert candidate(1, 2) == {3 + i}\n", "entry_point": f"add{i}"}
    for i in range(10)
]  # fmt: skip
KEPT = ("task_id", "sample", "completion", "program", "tokens", "stop_reason", "seed")  # all but the timings


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of two CPUs for the module (the eval joins the running one)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace=NAMESPACE)
    yield
    ray.shutdown()


@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return path


def records(root: Path) -> list[dict]:
    lines = (root / "samples.jsonl").read_text().splitlines()
    return sorted(({k: r[k] for k in KEPT} | {"status": r["result"]["status"]} for r in map(json.loads, lines)), key=lambda r: (r["task_id"], r["sample"]))


def settings(dataset: Path, model: Path, out: Path, **more) -> EvalSettings:
    return EvalSettings(dataset=str(dataset), model=str(model), dtype="bfloat16", out=out, **{"max_tokens": 64, **more})


def test_two_ray_workers_write_the_run_folder_a_plain_run_writes(cluster, dataset, tiny_model_dir, tmp_path):
    plain = run_evaluation(settings(dataset, tiny_model_dir, tmp_path / "plain"))
    spread = run_evaluation(settings(dataset, tiny_model_dir, tmp_path / "ray", ray="auto", workers=2))
    assert records(tmp_path / "ray") == records(tmp_path / "plain") and len(records(tmp_path / "plain")) == len(TASKS)
    assert {k: spread[k] for k in ("n_tasks", "done", "pass@1", "model", "dtype")} == {k: plain[k] for k in ("n_tasks", "done", "pass@1", "model", "dtype")}
    assert json.loads((tmp_path / "ray" / "summary.json").read_text())["done"] == len(TASKS)


def test_a_killed_worker_loses_no_task_and_duplicates_none(cluster, dataset, tiny_model_dir, tmp_path):
    out = tmp_path / "killed"
    killed: list[int] = []
    finished = threading.Event()

    def kill_a_worker_once_a_record_is_saved() -> None:
        while not finished.is_set() and not ((out / "samples.jsonl").is_file() and (out / "samples.jsonl").read_text()):
            time.sleep(0.02)
        if not finished.is_set():
            pid = ray.get(ray.get_actor("worker-1", namespace=NAMESPACE).pid.remote())
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    killer = threading.Thread(target=kill_a_worker_once_a_record_is_saved)
    killer.start()
    try:
        summary = run_evaluation(settings(dataset, tiny_model_dir, out, ray="auto", workers=2, max_tokens=256))
    finally:
        finished.set()
        killer.join()
    assert killed, "no worker was killed"
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["task_id"] for line in lines) == sorted(t["task_id"] for t in TASKS)  # each once
    assert summary["done"] == len(TASKS)


def test_ray_and_shard_do_not_go_together_and_workers_need_ray():
    from assistant.evaluation.settings import SettingsError

    with pytest.raises(SettingsError, match="--ray and --shard"):
        EvalSettings(ray="auto", shard=(1, 2))
    with pytest.raises(SettingsError, match="go with --ray"):
        EvalSettings(workers=2)
