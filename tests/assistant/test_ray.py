"""`guidecode eval --ray` and `guidecode calibrate --ray`: a run on a local Ray cluster with two
workers (tiny model saved to disk) writes the run folder a plain run writes, a worker killed mid-run
loses nothing, and the corpus's windows come back scored as the model scores them here, in order."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from assistant.cluster import NAMESPACE
from assistant.evaluation import EvalSettings, run_evaluation

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # a Ray cluster and model-loading workers

CHECK = "def check(candidate):\n"
TASKS = [
    {"task_id": f"toy/add{i}", "prompt": f'def add{i}(a, b):\n    """Return a + b + {i}."""\n', "canonical_solution": f"    return a + b + {i}\n",
     "test": CHECK + f"    assert candidate(1, 2) == {3 + i}\n", "entry_point": f"add{i}"}
    for i in range(10)
]  # fmt: skip
KEPT = ("task_id", "sample", "completion", "program", "tokens", "stop_reason", "seed", "steps", "paused", "rollouts", "public")  # all but timings


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


EXAMPLES = {
    "task_id": "toy/inc",
    "prompt": 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n',
    "test": CHECK + "    assert candidate(5) == 6\n",
    "entry_point": "inc",
}
DECODERS = [
    ("greedy", {}),
    ("sampling", {"samples": 2}),
    ("beam", {"beam_width": 2}),
    ("adadec", {"threshold": 0.0}),
    ("uscd", {"threshold": 0.0, "alpha": 1.0}),
    ("search", {"rollouts": 2}),
    ("sample-filter", {"rollouts": 2}),
]


@pytest.mark.parametrize("decoder, more", DECODERS, ids=[d for d, _ in DECODERS])
def test_every_decoder_writes_the_same_records_on_ray_as_without(cluster, tiny_model_dir, tmp_path, decoder, more):
    dataset = tmp_path / "mixed.jsonl"  # two tasks without docstring examples, one with (the search's public tests)
    dataset.write_text("".join(json.dumps(t) + "\n" for t in [*TASKS[:2], EXAMPLES]))
    common = {"decoder": decoder, "max_tokens": 8, **more}
    plain = run_evaluation(settings(dataset, tiny_model_dir, tmp_path / "plain", **common))
    spread = run_evaluation(settings(dataset, tiny_model_dir, tmp_path / "ray", ray="auto", workers=2, **common))
    assert records(tmp_path / "ray") == records(tmp_path / "plain")
    assert spread["done"] == plain["done"] == 3 * (more.get("samples") or 1) and spread["pass@1"] == plain["pass@1"]


def test_a_killed_worker_loses_no_task_and_duplicates_none(cluster, dataset, tiny_model_dir, tmp_path):
    out = tmp_path / "killed"
    killed: list[int] = []
    finished = threading.Event()

    def kill_a_worker_once_a_record_is_saved() -> None:
        while not finished.is_set() and not ((out / "samples.jsonl").is_file() and (out / "samples.jsonl").read_text()):
            time.sleep(0.02)
        if not finished.is_set():
            name = next(n["name"] for n in ray.util.list_named_actors(all_namespaces=True) if n["name"].endswith("-worker-1"))
            pid = ray.get(ray.get_actor(name, namespace=NAMESPACE).pid.remote())
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


def test_an_interrupted_run_keeps_what_finished_stops_its_workers_and_resumes(cluster, dataset, tiny_model_dir, tmp_path, monkeypatch):
    """Ctrl-C while workers are busy: a KeyboardInterrupt (not an error from cancelling their
    tasks), the records saved before it kept, no worker left running; the same run resumes."""
    from assistant.evaluation.store import RunStore

    out = tmp_path / "interrupted"
    append = RunStore.append

    def interrupted_after_the_first(store, record):
        append(store, record)
        raise KeyboardInterrupt

    monkeypatch.setattr(RunStore, "append", interrupted_after_the_first)
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(settings(dataset, tiny_model_dir, out, ray="auto", workers=2))
    assert len((out / "samples.jsonl").read_text().splitlines()) == 1
    assert not [a for a in ray.util.list_named_actors(all_namespaces=True) if "-worker-" in a["name"]]
    monkeypatch.setattr(RunStore, "append", append)
    assert run_evaluation(settings(dataset, tiny_model_dir, out, ray="auto", workers=2))["done"] == len(TASKS)
    lines = (out / "samples.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["task_id"] for line in lines) == sorted(t["task_id"] for t in TASKS)


def test_workers_go_with_ray():
    from assistant.evaluation.settings import SettingsError

    with pytest.raises(SettingsError, match="go with --ray"):
        EvalSettings(workers=2)
    assert EvalSettings(ray="auto", workers=2, worker_threads=1).workers == 2


def test_calibration_windows_scored_on_two_workers_come_back_in_order_as_scored_here(cluster, tiny_model_dir):
    import torch

    from assistant.calibration import score_window
    from assistant.calibration_ray import scores_on_ray
    from assistant.cluster import RayPlan
    from assistant.corpus import build_corpus
    from assistant.loading import load_model

    loaded = load_model(str(tiny_model_dir), "float32", "cpu", False, None)
    corpus = build_corpus(loaded.tokenizer, ("h11",), tokens=900, seed=0, window=150)
    here = [score_window(loaded.model, window.tokens) for window in corpus.windows]
    there = list(scores_on_ray(RayPlan("auto", workers=2), str(tiny_model_dir), "float32", "cpu", corpus.windows))
    assert len(there) == len(here) == len(corpus.windows) > 2
    for (h, wrong), (h_ray, wrong_ray) in zip(here, there, strict=True):
        assert torch.allclose(h, h_ray, atol=1e-4) and torch.equal(wrong, wrong_ray)
