"""The evaluation loop: generate candidates one after another (the model is one), and run each
against its tests in a small thread pool meanwhile, so the CPU is not idle waiting on either.

Records are saved as runs finish; on an interrupt, queued runs are dropped, those in flight are
waited for and saved, and the next invocation does only what is missing.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Protocol

from sandbox.result import RunResult

from ..progress import Progress
from .datasets import Task
from .decoding import Candidate, Decoder
from .store import Key, RunStore


class Executor(Protocol):
    """What the loop needs of a sandbox (sandbox.Sandbox)."""

    @property
    def mode(self) -> str: ...  # how runs are isolated, for the report

    def run(self, program: str, tests: str | None = None, entry_point: str | None = None) -> RunResult: ...


@dataclass
class LoopResult:
    records: dict[Key, dict]  # every record of the tasks and samples asked for, saved earlier or now
    resumed: int  # of those, saved by an earlier invocation
    wall_s: float  # this invocation's generating and running


def evaluate(
    tasks: Sequence[Task],
    samples: int,
    decoder: Decoder,
    executor: Executor,
    store: RunStore,
    progress: Progress = Progress.silent(),
    workers: int = 2,
) -> LoopResult:
    start = time.perf_counter()
    saved, pending = split_saved(tasks, samples, store)
    resumed = len(saved)
    with progress.count("evaluating", total=resumed + len(pending), completed=resumed) as advance:
        on_saved = reporter(saved, advance)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="eval-run")
        running: dict[Future, dict] = {}
        try:
            for task, sample, candidate in candidates(decoder, pending):
                running[pool.submit(executor.run, candidate.program, task.test, task.entry_point)] = as_record(task, sample, candidate)
                _save_finished(running, store, on_saved, block=False)
            while running:
                _save_finished(running, store, on_saved, block=True)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on an interrupt: drop the queue, finish what runs
            _save_finished(running, store, on_saved, block=False)
    return LoopResult(saved, resumed, time.perf_counter() - start)


def already_saved(tasks: Sequence[Task], samples: int, store: RunStore) -> LoopResult | None:
    """The loop's result without a decoder, when every sample asked for is saved already."""
    saved, pending = split_saved(tasks, samples, store)
    return None if pending else LoopResult(saved, len(saved), 0.0)


def split_saved(tasks: Sequence[Task], samples: int, store: RunStore) -> tuple[dict[Key, dict], list[tuple[Task, int]]]:
    """(the records saved of the samples asked for, the samples still to do)."""
    wanted = [(task, sample) for task in tasks for sample in range(samples)]
    keys = {(task.task_id, sample) for task, sample in wanted}
    saved = {key: record for key, record in store.records().items() if key in keys}
    # Task-major order: a task's samples run back to back and share the prompt's KV cache.
    pending = [(task, sample) for task, sample in wanted if (task.task_id, sample) not in saved]
    return saved, pending


def candidates(decoder: Decoder, pending: list[tuple[Task, int]]) -> Iterator[tuple[Task, int, Candidate]]:
    """Each pending sample's candidate, in order: one at a time, or a task's samples together
    where the decoder can write them so (`solve_many`)."""
    solve_many = getattr(decoder, "solve_many", None)
    if solve_many is None:
        for task, sample in pending:
            yield task, sample, decoder.solve(task, sample)
        return
    for _, group in itertools.groupby(pending, key=lambda pair: pair[0].task_id):
        tasks, samples = zip(*group)
        for sample, candidate in zip(samples, solve_many(tasks[0], list(samples))):
            yield tasks[0], sample, candidate


def as_record(task: Task, sample: int, candidate: Candidate) -> dict:
    return {
        "task_id": task.task_id,
        "sample": sample,
        "completion": candidate.completion,
        "program": candidate.program,
        "tokens": candidate.tokens,
        "seconds": round(candidate.seconds, 4),
        "stop_reason": candidate.stop_reason,
        "seed": candidate.seed,
        "steps": candidate.steps,
        "paused": candidate.paused,
        "rollouts": candidate.rollouts,
        "public": list(candidate.public) if candidate.public is not None else None,
        "public_rerun": candidate.public_rerun,
    }


def _save_finished(running: dict[Future, dict], store: RunStore, on_saved: Callable[[dict], None], block: bool) -> None:
    if block:
        wait(running, return_when=FIRST_COMPLETED)
    for future in [f for f in running if f.done()]:
        record = running.pop(future)
        if future.cancelled():
            continue
        record["result"] = future.result().to_dict()
        store.append(record)
        on_saved(record)


def reporter(saved: dict[Key, dict], advance: Callable[[int, str], None]) -> Callable[[dict], None]:
    passed = [sum(_passed(r) for r in saved.values())]

    def on_saved(record: dict) -> None:
        saved[(record["task_id"], record["sample"])] = record
        passed[0] += _passed(record)
        advance(1, f"{passed[0]} passed")

    return on_saved


def _passed(record: dict) -> bool:
    return record["result"]["status"] == "passed"


def make_sandbox(timeout_s: float) -> Executor:
    from sandbox import Limits, Sandbox

    return Sandbox(Limits(timeout_s=timeout_s))
