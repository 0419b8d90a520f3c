"""`guidecode bench mgd`: monitor-guided decoding on any Python source tree (the paper's PragmaticCode setting).

Tasks (benchmarks/mgd_tasks.py): positions right after `obj.` where the true member is defined in
another file of the tree; the prompt is the file up to and including the dot. Each model
completes the line with and without monitors (same prompts, same order, greedy), and the
completions are scored:
- next-identifier match: the first identifier written is the true member;
- identifier-sequence match: the identifiers of the written rest of the line are those of the true one;
- existing member accesses: of the `x.name` accesses in the completion whose object the jedi
  library can analyse, the share whose member exists. jedi is called directly as a library
  (not through the monitors' language server), on the completed text;
- time per completion and tokens/s, and the monitored/unmonitored tokens/s ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .mgd_tasks import MgdTask, check_accesses, identifiers


@dataclass
class Scores:
    model: str
    monitors: bool
    tasks: int = 0
    next_identifier: int = 0
    identifier_sequence: int = 0
    accesses_existing: int = 0
    accesses_missing: int = 0
    accesses_unknown: int = 0
    tokens: int = 0
    seconds: list[float] = field(default_factory=list)  # end to end per completion
    decode_seconds: float = 0.0  # the decoding loops (monitors' queries included), for tokens/s
    monitor_queries: int = 0
    monitor_rejections: int = 0
    completions: list[dict] = field(default_factory=list)  # per task: what was written, against the truth

    @property
    def existing_share(self) -> float | None:
        checked = self.accesses_existing + self.accesses_missing
        return self.accesses_existing / checked if checked else None

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.decode_seconds if self.decode_seconds else 0.0

    def summary(self) -> dict:
        n = max(self.tasks, 1)
        return {
            "model": self.model,
            "monitors": self.monitors,
            "tasks": self.tasks,
            "next_identifier_match": self.next_identifier / n,
            "identifier_sequence_match": self.identifier_sequence / n,
            "existing_member_accesses": self.existing_share,
            "accesses": {"existing": self.accesses_existing, "missing": self.accesses_missing, "unknown": self.accesses_unknown},
            "seconds_per_completion_p50": statistics.median(self.seconds) if self.seconds else None,
            "tokens_per_second": self.tokens_per_second,
            "monitor_queries": self.monitor_queries,
            "monitor_rejections": self.monitor_rejections,
            "completions": self.completions,
        }


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def score(scores: Scores, repo: Path, task: MgdTask, completion) -> None:
    written = first_line(completion.text)
    ids = identifiers(written)
    matched = bool(ids) and ids[0] == task.member
    scores.tasks += 1
    scores.next_identifier += matched
    scores.identifier_sequence += ids == identifiers(task.rest_of_line)
    check = check_accesses(repo, task.path, task.prompt + written, len(task.prompt) - 1)
    scores.accesses_existing += check.existing
    scores.accesses_missing += check.missing
    scores.accesses_unknown += check.unknown
    scores.tokens += completion.tokens
    scores.seconds.append(completion.seconds)
    scores.decode_seconds += completion.decode_seconds
    scores.monitor_queries += completion.monitor_queries
    scores.monitor_rejections += completion.monitor_rejections
    scores.completions.append(
        {
            "task": task.id,
            "truth": task.rest_of_line,
            "written": written,
            "next_identifier_match": matched,
            "reranked_steps": completion.paused_steps,
            "tokens": completion.tokens,
            "decode_seconds": round(completion.decode_seconds, 4),
        }
    )


def run_model(assistant, repo: Path, tasks: list[MgdTask], max_new_tokens: int, on_task: Callable[[], None] = lambda: None) -> list[Scores]:
    """Both settings for one loaded model; monitors off first, then on, over the same tasks."""
    out = []
    if not assistant.monitors.prepare(repo):  # server start and token index: not part of any completion's time
        raise RuntimeError(f"the monitors cannot run on {repo}: {assistant.monitors.notes[-1] if assistant.monitors.notes else 'disabled'}")
    for monitors in (False, True):
        scores = Scores(assistant.loaded.name, monitors)
        for task in tasks:
            completion = assistant.complete(
                task.prompt,
                len(task.prompt),
                max_new_tokens=max_new_tokens,
                workspace=repo if monitors else None,
                path=repo / task.path,
            )
            score(scores, repo, task, completion)
            on_task()
        out.append(scores)
    return out


def ordered(tasks: list[MgdTask]) -> list[MgdTask]:
    """By file and position, so consecutive prompts share their beginning (the engine reuses its keys and values)."""
    return sorted(tasks, key=lambda t: (t.path, len(t.prompt)))


def report(repo: Path, results: list[Scores], setup: dict) -> str:
    lines = [
        f"guidecode bench mgd — {repo} ({results[0].tasks if results else 0} tasks)",
        "setup: " + ", ".join(f"{k}: {v}" for k, v in setup.items()),
        f"{'model':34} {'monitors':8} {'next-id':>8} {'id-seq':>8} {'exists':>8} {'checked':>8} {'s/compl':>8} {'tok/s':>7}",
    ]
    for s in results:
        share = s.existing_share
        lines.append(
            f"{s.model:34} {'on' if s.monitors else 'off':8} {s.next_identifier / max(s.tasks, 1):8.1%} "
            f"{s.identifier_sequence / max(s.tasks, 1):8.1%} {('%.1f%%' % (100 * share)) if share is not None else 'n/a':>8} "
            f"{s.accesses_existing + s.accesses_missing:8d} {statistics.median(s.seconds) if s.seconds else 0:8.2f} {s.tokens_per_second:7.2f}"
        )
    by_model: dict[str, dict[bool, Scores]] = {}
    for s in results:
        by_model.setdefault(s.model, {})[s.monitors] = s
    for model, pair in by_model.items():
        if True in pair and False in pair and pair[False].tokens_per_second:
            ratio = pair[True].tokens_per_second / pair[False].tokens_per_second
            lines.append(f"{model}: tokens/s with monitors / without = {ratio:.2f}x")
    return "\n".join(lines)


def as_json(repo: Path, results: list[Scores], setup: dict) -> dict:
    return {"repo": str(repo), "setup": setup, "results": [s.summary() for s in results]}
