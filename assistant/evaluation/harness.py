"""One evaluation run, from settings to summary: the dataset, the run folder (new or resumed),
the sandbox, the decoder, the loop, and summary.json."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from sandbox import SandboxError

from ..errors import GuidecodeError
from ..progress import Progress
from .datasets import Dataset, Task, load_dataset
from .decoding import lookup
from .runner import Executor, LoopResult, already_saved, evaluate, make_sandbox
from .settings import EvalSettings
from .store import RunStore
from .summary import summarize


def run_evaluation(
    settings: EvalSettings,
    progress: Progress = Progress.silent(),
    say: Callable[[str], None] = lambda line: None,
    executor: Executor | None = None,
) -> dict:
    """Evaluate, resuming what the run folder holds; returns the summary (also in summary.json).
    `say` hears the run's set-up, one line at a time; `executor` defaults to the sandbox."""
    settings = settings.resolved()
    spec, samples = lookup(settings.decoder), settings.samples
    assert samples is not None  # resolved
    dataset = load_dataset(settings.dataset)
    tasks = dataset.tasks[: settings.limit]
    _check_tests(tasks)  # a bad dataset or option fails before any model loads
    if spec.check is not None:
        spec.check(settings, tasks)
    root = settings.run_dir(dataset)
    store = RunStore.open(root, settings.recorded(dataset))
    executor = executor or make_sandbox(settings.timeout_s)
    say(f"{dataset.name}: {len(tasks)} of {len(dataset.tasks)} tasks × {samples} samples, decoder {settings.decoder}")
    say(f"sandbox: {executor.mode}; run folder: {root}")
    described, result = store.described(), already_saved(tasks, samples, store)
    if described is not None and result is not None:
        say(f"every sample asked for is saved in {root}: summarizing them, with no model loaded")
    else:
        described, result = _generate(settings, tasks, samples, executor, store, progress, say)
    summary = _summary(settings, dataset, tasks, samples, described, store, result, executor.mode)
    store.write_summary(summary)
    return summary


def _generate(
    settings: EvalSettings,
    tasks: Sequence[Task],
    samples: int,
    executor: Executor,
    store: RunStore,
    progress: Progress,
    say: Callable[[str], None],
) -> tuple[dict, LoopResult]:
    """Builds the decoder and runs the loop over what is not saved yet: (the decoder's description, the loop's result)."""
    spec = lookup(settings.decoder)
    if settings.ray is not None:
        return _generate_on_ray(settings, tasks, samples, store, progress, say)
    decoder = spec.build(settings, progress)
    try:
        described = decoder.describe()
        store.save_described(described)
        if described.get("model"):
            say(f"model: {described['model']} ({described['dtype']}, {described['device']}), speculation {described['speculation']}")
        workers = 2 if spec.loads_model else os.cpu_count() or 2  # beside a model, runs are few and short
        return described, evaluate(tasks, samples, decoder, executor, store, progress, workers)
    except SandboxError as error:
        raise GuidecodeError(f"{error}; that run was not saved, and the same command resumes once it is fixed") from None
    except KeyboardInterrupt:
        say(f"what finished is saved in {store.root}: the same command resumes from there")
        raise
    finally:
        decoder.close()


def _generate_on_ray(
    settings: EvalSettings, tasks: Sequence[Task], samples: int, store: RunStore, progress: Progress, say: Callable[[str], None]
) -> tuple[dict, LoopResult]:
    from ..cluster import RayPlan
    from .distributed import evaluate_on_ray

    assert settings.ray is not None
    plan = RayPlan(settings.ray, settings.workers, settings.worker_threads)
    try:
        return evaluate_on_ray(settings, plan, tasks, samples, store, progress, say)
    except KeyboardInterrupt:
        say(f"what finished is saved in {store.root}: the same command resumes from there")
        raise


def _summary(
    settings: EvalSettings,
    dataset: Dataset,
    tasks: Sequence[Task],
    samples: int,
    described: dict,
    store: RunStore,
    result: LoopResult,
    sandbox: str,
) -> dict:
    """The run's summary over all its tasks."""
    records = result.records
    return {
        "dataset": dataset.name,
        "dataset_path": str(dataset.path),
        "decoder": settings.decoder,
        **described,
        "decoder_settings": settings.decoder_settings(),
        **summarize(tasks, samples, records),
        "sandbox": sandbox,
        "timeout_s": settings.timeout_s,
        "wall_seconds": round(result.wall_s, 3),
        "resumed": result.resumed,
        "new": len(result.records) - result.resumed,
        "out": str(store.root),
    }


def _check_tests(tasks: Sequence[Task]) -> None:
    """Each task's tests parse and hold a test the sandbox can count (sandbox/testplan.py)."""
    from sandbox import testplan

    for task in tasks:
        try:
            names = testplan.test_names(task.test, task.entry_point)
        except SyntaxError as error:
            raise GuidecodeError(f"task {task.task_id}: its tests do not parse ({error.msg}, line {error.lineno})") from None
        if not names:
            raise GuidecodeError(
                f"task {task.task_id}: the sandbox counts no test in its tests (it counts top-level asserts, "
                "test_* functions, and the asserts of check(candidate))"
            )
