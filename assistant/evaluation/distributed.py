"""An evaluation's tasks spread over Ray workers (`guidecode eval --ray auto|ADDRESS`).

Each worker is a Ray actor that builds the decoder once (the model stays loaded) and its own
sandbox; it is given one task at a time with that task's pending samples, writes their candidates
and runs each against the tests, and returns the records. The driver is the run folder's only
writer: it appends each record as its task comes back, with the same progress display as a local
run, so a run is resumable exactly as before. A record does not depend on which worker wrote it nor
on its threads: every task is prefilled from scratch and a prompt's products give the same bits
with any thread count (decoders/kernels/wide_linear.cpp; docs/evaluation.md).

A worker that dies (its process killed, its node gone) is restarted by Ray, and the task it had in
flight is given to it again (`max_task_retries`); a task lost more often than that fails the run,
naming the task, with everything finished before it saved.

`--ray auto` starts a local cluster sized to the machine and stops it at the end; `--ray ADDRESS`
joins a running one (`ray start --head`, docs/evaluation.md), whose nodes need the package, the
model and bubblewrap installed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sandbox import SandboxError

from ..cluster import NAMESPACE, RayPlan, actor_names, connected, set_threads
from ..errors import GuidecodeError
from ..progress import Progress
from .datasets import Task
from .runner import LoopResult, as_record, candidates, make_sandbox, reporter, split_saved
from .settings import EvalSettings
from .store import RunStore

RETRIES = 2  # a task whose worker died is given to the restarted worker at most this often


class Worker:
    """One Ray actor: the decoder and the sandbox of one evaluation, kept between tasks."""

    def __init__(self, settings: EvalSettings, threads: int):
        from .decoding import lookup

        set_threads(threads)
        self.decoder = lookup(settings.decoder).build(settings, Progress.silent())
        self.executor = make_sandbox(settings.timeout_s)

    def describe(self) -> dict:
        """The decoder's description, and how this worker's sandbox isolates (a node without
        bubblewrap runs the weaker mode)."""
        return {**self.decoder.describe(), "worker_sandbox": self.executor.mode}

    def pid(self) -> int:
        return os.getpid()

    def solve(self, task: Task, samples: list[int]) -> list[dict]:
        """The records of `task`'s `samples`, each run against the tests."""
        records = []
        for _, sample, candidate in candidates(self.decoder, [(task, sample) for sample in samples]):
            record = as_record(task, sample, candidate)
            record["result"] = self.executor.run(candidate.program, task.test, task.entry_point).to_dict()
            records.append(record)
        return records


def evaluate_on_ray(
    settings: EvalSettings,
    plan: RayPlan,
    tasks: Sequence[Task],
    samples: int,
    store: RunStore,
    progress: Progress,
    say: Callable[[str], None],
) -> tuple[dict, LoopResult]:
    """Like runner.evaluate, with the workers on Ray: (the decoder's description, the loop's result)."""
    import time

    start = time.perf_counter()
    saved, pending = split_saved(tasks, samples, store)
    resumed, groups = len(saved), _by_task(pending)
    with connected(plan) as (ray, cpus):
        count = plan.count(cpus, len(groups))
        say(f"ray: {count} worker(s) of {plan.threads} CPU(s) each on {ray.get_runtime_context().gcs_address}")
        actor = ray.remote(num_cpus=plan.threads, max_restarts=-1, max_task_retries=RETRIES)(Worker)
        workers = [actor.options(name=name, namespace=NAMESPACE).remote(settings, plan.threads) for name in actor_names("worker", count)]
        try:
            described = ray.get(workers[0].describe.remote())
            store.save_described(described)
            if described.get("model"):
                say(f"model: {described['model']} ({described['dtype']}, {described['device']}), speculation {described['speculation']}")
            with progress.count("evaluating", total=len(saved) + len(pending), completed=len(saved)) as advance:
                _dispatch(ray, workers, groups, store, reporter(saved, advance))
        finally:
            for worker in workers:  # their models' memory goes back now, also on a cluster that outlives the run
                ray.kill(worker)
    return described, LoopResult(saved, resumed, time.perf_counter() - start)  # `saved` has the new records too


WAIT_S = 0.5  # how long one wait for a finished task blocks


def _by_task(pending: list[tuple[Task, int]]) -> list[tuple[Task, list[int]]]:
    """Pending samples grouped by task, in order: a task's samples go to one worker together."""
    groups: dict[str, tuple[Task, list[int]]] = {}
    for task, sample in pending:
        groups.setdefault(task.task_id, (task, []))[1].append(sample)
    return list(groups.values())


def _dispatch(ray: Any, workers: list, groups: list[tuple[Task, list[int]]], store: RunStore, on_saved: Callable[[dict], None]) -> None:
    """Each group to an idle worker; each finished group's records appended here, the one writer."""
    queue: Iterator[tuple[Task, list[int]]] = iter(groups)
    running: dict[Any, tuple[Any, Task]] = {}

    def give(worker) -> None:
        group = next(queue, None)
        if group is not None:
            running[worker.solve.remote(*group)] = (worker, group[0])

    for worker in workers:
        give(worker)
    # Tasks still running when this stops (an error, Ctrl-C) end with their workers, which the
    # caller kills: Ray cannot force-cancel an actor's task.
    while running:
        finished, _ = ray.wait(list(running), num_returns=1, timeout=WAIT_S)  # short waits: Ctrl-C is heard between them
        if not finished:
            continue
        done = finished[0]
        worker, task = running.pop(done)
        try:
            records = ray.get(done)
        except ray.exceptions.RayError as error:
            raise _failure(error, task.task_id) from None
        for record in records:
            store.append(record)
            on_saved(record)
        give(worker)


def _failure(error: Exception, task_id: str) -> GuidecodeError:
    """What the user reads when a task came back with an error instead of its records.

    An error raised in the worker's own code arrives wrapped (a RayTaskError whose `cause` is it)
    and was not retried: a broken sandbox or a bad input reads as it does in a local run. Only a
    worker that died was given the task again.
    """
    cause = getattr(error, "cause", None)
    if isinstance(cause, (GuidecodeError, SandboxError)):
        return GuidecodeError(f"task {task_id}: {cause}; what finished before it is saved, and the same command resumes once it is fixed")
    if isinstance(cause, Exception):
        return GuidecodeError(f"task {task_id} failed on a Ray worker ({type(cause).__name__}: {cause}); what finished is saved\n{error}")
    return GuidecodeError(f"task {task_id} failed on a Ray worker {RETRIES + 1} times: {error}; what finished is saved")
