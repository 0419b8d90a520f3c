"""`guidecode bench mgd`: monitor-guided decoding on a source tree (the paper's PragmaticCode setting).

Tasks: positions right after `obj.` where the true member is defined in another file of the tree
(Python, benchmarks/mgd_tasks.py, with jedi), or not named anywhere in the prompt (TypeScript,
JavaScript, C, C++, Go: benchmarks/mgd_lsp_tasks.py, with the language's server); the prompt is
the file up to and including the trigger (`.`, `?.`, `->`). Each model
completes the line with and without monitors (same prompts, same order, greedy), and the
completions are scored:
- next-identifier match: the first identifier written is the true member;
- identifier-sequence match: the identifiers of the written rest of the line are those of the true one;
- existing member accesses: of the `x.name` accesses in the completion whose object the analysis
  can type, the share whose member exists. For Python jedi is called directly as a library (not
  through the monitors' language server); for the other languages the checker has its own session
  of the language's server (not the monitors'). Both read the completed text;
- time per completion and tokens/s, and the monitored/unmonitored tokens/s ratio.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.errors import GuidecodeError

from .mgd_sources import describe
from .mgd_tasks import AccessCheck, MgdTask, check_accesses, identifiers, mine_repo

if TYPE_CHECKING:
    from assistant.analysis import AnalysisSession

# (root-relative path, code, offset of the trigger's last character) -> the accesses at or after it
Checker = Callable[[str, str, int], AccessCheck]


@dataclass(frozen=True)
class Scoring:
    """How completions in one language are read: the assistant's language id, the member-access
    checker, and what counts as an identifier."""

    language: str
    check: Checker
    identifiers: Callable[[str], list[str]] = identifiers


def python_scoring(repo: Path) -> Scoring:
    """Python's: jedi as a library over `repo`, Python's tokenizer for identifiers."""
    return Scoring("python", partial(check_accesses, repo))


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
    monitored: int = 0  # completions the monitors guided (0 with monitors on: the language went unguided)
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
            "monitored_completions": self.monitored,
            "completions": self.completions,
        }


# What a tree of each language needs for `mine` to find tasks in it (said when it finds none).
TASK_HINTS = {
    "python": "`obj.member` accesses whose member is defined in another file of the tree",
    "other": "member accesses whose member its language server lists there and the text before them does not name",
}


def server_description(language: str, python_server: str) -> str:
    """The language server the monitors use for `language` (Python's: `python_server`), with its
    version where it tells it cheaply."""
    from . import mgd_lsp_tasks as lsp

    if language == "python":
        return python_server  # the checker is jedi as a library
    return lsp.server_version(lsp.LANGUAGES[language].server)


@dataclass
class Tree:
    """One source tree of a run: its tasks (in `ordered` order) and how their completions are scored."""

    root: Path
    tasks: list[MgdTask]
    scoring: Scoring
    source: str  # the package and version the tree is (mgd_sources.describe)
    mining: dict  # what mining counted (files, candidates, drops)
    session: AnalysisSession | None = None  # the checker's own language server, if any

    def close(self) -> None:
        if self.session is not None:
            self.session.close()

    @property
    def about(self) -> dict:
        """What the results of this tree say of it besides its path."""
        return {"source": self.source, "mining": self.mining}


def mine(root: Path, language: str, limit: int | None, seed: int, progress: Callable[[int, int], None] | None = None) -> Tree:
    """The tasks of `root` in `language` ("python" or a key of mgd_lsp_tasks.LANGUAGES). For a
    language server's language, its session (the checker's, started here) stays open on the
    returned tree until `close`. Raises GuidecodeError when that server cannot run."""
    from . import mgd_lsp_tasks as lsp

    root = root.resolve()
    if language == "python":
        found = mine_repo(root, limit, seed, progress=progress)
        return Tree(root, ordered(list(found.tasks)), python_scoring(root), describe(root), _counts(found))
    spec = lsp.LANGUAGES[language]
    session = lsp.open_session(root, spec)
    try:
        if not session.available:
            raise GuidecodeError(f"cannot check {language} completions in {root}: {session.unavailable_reason}")
        found = lsp.mine_tree(root, language, session, limit, seed, progress=progress)
    except BaseException:
        session.close()
        raise
    check = partial(lsp.check_accesses_lsp, session, triggers=spec.triggers)
    scoring = Scoring(language, check, partial(lsp.code_identifiers, triggers=spec.triggers))
    return Tree(root, ordered(list(found.tasks)), scoring, describe(root), _counts(found), session)


def _counts(report) -> dict:
    return {f.name: getattr(report, f.name) for f in fields(report) if f.name != "tasks"}


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def score(scores: Scores, scoring: Scoring, task: MgdTask, completion) -> None:
    written = first_line(completion.text)
    ids = scoring.identifiers(written)
    matched = bool(ids) and ids[0] == task.member
    scores.tasks += 1
    scores.next_identifier += matched
    scores.identifier_sequence += ids == scoring.identifiers(task.rest_of_line)
    check = scoring.check(task.path, task.prompt + written, len(task.prompt) - 1)
    scores.accesses_existing += check.existing
    scores.accesses_missing += check.missing
    scores.accesses_unknown += check.unknown
    scores.tokens += completion.tokens
    scores.seconds.append(completion.seconds)
    scores.decode_seconds += completion.decode_seconds
    scores.monitor_queries += completion.monitor_queries
    scores.monitor_rejections += completion.monitor_rejections
    scores.monitored += completion.monitored
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


def run_model(
    assistant,
    repo: Path,
    tasks: list[MgdTask],
    max_new_tokens: int,
    scoring: Scoring | None = None,
    on_task: Callable[[], None] = lambda: None,
) -> list[Scores]:
    """Both settings for one loaded model; monitors off first, then on, over the same tasks.
    `scoring`: the tasks' language and checker (default: Python's, jedi over `repo`)."""
    from assistant import languages

    scoring = scoring or python_scoring(repo)
    out = []
    # server start and token index: not part of any completion's time
    if not assistant.monitors.prepare(repo, languages.detect(language_id=scoring.language)):
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
                language=scoring.language,
            )
            score(scores, scoring, task, completion)
            on_task()
        out.append(scores)
    return out


def ordered(tasks: list[MgdTask]) -> list[MgdTask]:
    """By file and position, so consecutive prompts share their beginning (the engine reuses its keys and values)."""
    return sorted(tasks, key=lambda t: (t.path, len(t.prompt)))


def report(repo: Path, results: list[Scores], setup: dict, about: dict | None = None) -> str:
    """The table of one tree's results; `about`: `Tree.about` (the package and version the tree is)."""
    source = f" [{about['source']}]" if about else ""
    lines = [
        f"guidecode bench mgd — {repo}{source} ({results[0].tasks if results else 0} tasks)",
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
        if True in pair and pair[True].tasks and not pair[True].monitored:
            lines.append(f"{model}: the monitors guided none of the completions: its 'on' row ran unguided")
    return "\n".join(lines)


def as_json(repo: Path, results: list[Scores], setup: dict, about: dict | None = None) -> dict:
    return {"repo": str(repo), **(about or {}), "setup": setup, "results": [s.summary() for s in results]}
