"""`guidecode bench repo`: next-line completion in a repository, with and without repository context.

Tasks: lines whose code uses a name defined in another file of the tree, or (`lines="in-file"`, the
control) one defined in its own file and none imported from the tree (benchmarks/repo_lines.py).
One loaded model completes every task twice in one process, with repository context (the
assistant's `context_tokens`) and without it (`context_tokens=0`); which of the two
goes first alternates from task to task, so that neither always finds the keys and values of the
previous request in the cache. Both requests name the same workspace and path, and the monitors are
off in both, so the context is the only difference. Decoding is greedy; the assistant's scope
decides how much it writes (a line, or a block after a header), and the first line is scored:

- exact match: its code (comment and outer blanks dropped) is the line's code;
- edit similarity: difflib's `SequenceMatcher.ratio` between the two (2 * matches / total
  length; the optional `rapidfuzz` is no dependency of the project, so no Levenshtein ratio);
- identifier match: the task's symbol (defined in the other file, or in-file in its own) is among its identifiers;
- the median time per completion (context gathering included), and the mean prompt and context tokens.

The gain is exact matches with context over those without, less one.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.embedded import DEFAULT_MODEL

from .mgd import first_line
from .mgd_tasks import identifiers
from .repo_lines import RepoLines, RepoLineTask, RepoTree, line_code

if TYPE_CHECKING:
    from assistant.assistant import Assistant, Completion
    from assistant.config import AssistantConfig

SIMILARITY = "difflib SequenceMatcher ratio"


@dataclass
class Arm:
    """One setting's scores over the tasks."""

    context_tokens: int  # the setting: 0 is without context
    tasks: int = 0
    exact: int = 0
    identifier: int = 0
    similarity: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)
    context_used: list[int] = field(default_factory=list)  # tokens of repository context in each prompt
    retried: int = 0  # completions written again with the context after an unsure first line

    @property
    def key(self) -> str:
        return "with_context" if self.context_tokens else "without_context"

    def score(self, task: RepoLineTask, completion: Completion) -> dict:
        """Count one completion; what the per-task record keeps of it."""
        written = line_code(first_line(completion.text))
        exact = written == task.expected
        similarity = SequenceMatcher(None, written, task.expected).ratio()
        named = task.symbol in identifiers(written)
        used = completion.context_tokens
        self.tasks += 1
        self.exact += exact
        self.identifier += named
        self.similarity.append(similarity)
        self.seconds.append(completion.seconds)
        self.prompt_tokens.append(completion.prompt_tokens)
        self.context_used.append(used)
        self.retried += completion.context_retried
        return {
            "first_line": written,
            "exact": exact,
            "similarity": round(similarity, 4),
            "identifier": named,
            "scope": completion.scope,
            "seconds": round(completion.seconds, 4),
            "prompt_tokens": completion.prompt_tokens,
            "context_tokens": used,
            "context_retried": completion.context_retried,
            "reused_prompt_tokens": completion.reused_prompt_tokens,
        }

    def summary(self) -> dict:
        n = max(self.tasks, 1)
        return {
            "arm": self.key,
            "context_tokens_setting": self.context_tokens,
            "tasks": self.tasks,
            "exact_match": self.exact / n,
            "edit_similarity": statistics.mean(self.similarity) if self.similarity else None,
            "identifier_match": self.identifier / n,
            "seconds_per_completion_p50": statistics.median(self.seconds) if self.seconds else None,
            "prompt_tokens_mean": statistics.mean(self.prompt_tokens) if self.prompt_tokens else None,
            "context_tokens_mean": statistics.mean(self.context_used) if self.context_used else None,
            "context_retried": self.retried / n,
        }


@dataclass
class Run:
    with_context: Arm
    without_context: Arm
    records: list[dict]  # per task: the task, then each arm's first line and scores

    @property
    def gain(self) -> float | None:
        """Exact matches with context over those without, less one; None when none matched without."""
        if not self.without_context.exact:
            return None
        return self.with_context.exact / self.without_context.exact - 1


@contextmanager
def _configured(assistant: Assistant, config: AssistantConfig) -> Iterator[None]:
    # The assistant reads its configuration per request: one loaded model serves both settings.
    kept = assistant.config
    assistant.config = config
    try:
        yield
    finally:
        assistant.config = kept


def _complete(assistant: Assistant, config: AssistantConfig, root: Path, task: RepoLineTask, max_new_tokens: int) -> Completion:
    with _configured(assistant, config):
        return assistant.complete(task.text, task.cursor, max_new_tokens=max_new_tokens, workspace=root, path=root / task.path)


def run(
    assistant: Assistant,
    root: Path,
    tasks: tuple[RepoLineTask, ...],
    max_new_tokens: int,
    on_completion: Callable[[Arm], None] = lambda arm: None,
) -> Run:
    """Every task with the assistant's context budget and with none. One untimed completion per
    setting comes first: the language server's start and the first use of the kernels are no
    task's time."""
    budget = assistant.config.context_tokens
    if budget <= 0:
        raise ValueError(f"the 'with context' setting needs a positive context budget, got {budget}")
    arms = (Arm(budget), Arm(0))
    configs = {arm.key: replace(assistant.config, context_tokens=arm.context_tokens) for arm in arms}
    for arm in arms:
        _complete(assistant, configs[arm.key], root, tasks[0], max_new_tokens)
    records = []
    for i, task in enumerate(tasks):
        order = arms if i % 2 == 0 else arms[::-1]
        # As in an editor after a few keystrokes in this file: the language server has answered.
        context = assistant.settled_context(task.text, task.cursor, root, root / task.path)
        shown = assistant.loaded.tokenizer.decode(context) if context else ""
        record: dict[str, object] = {"task": task.id, "symbol": task.symbol, "defined_in": task.defined_in, "expected": task.expected, "first": order[0].key}
        record["symbol_in_context"] = bool(re.search(rf"\b{re.escape(task.symbol)}\b", shown))
        for arm in order:
            record[arm.key] = arm.score(task, _complete(assistant, configs[arm.key], root, task, max_new_tokens))
            on_completion(arm)
        records.append(record)
    return Run(arms[0], arms[1], records)


# ---------------------------------------------------------------------------------------------
# How a run was obtained, the result file, the printed report


def setup(model: str, flag: str, config: AssistantConfig, tree: RepoTree, limit: int, seed: int, lines: str = "cross-file") -> dict:
    """How a run was obtained: the model as loaded (and as `--model` named it), the tree, the task
    kind and choice, the decoding, the machine; `config` is the 'with context' setting."""
    from .environment import describe
    from .scope_parse import machine_kind

    return {
        "model": model,
        "model_flag": flag,
        "machine_kind": machine_kind(),
        "source": tree.to_json(),
        "lines": lines,
        "limit": limit,
        "seed": seed,
        "context_tokens": config.context_tokens,
        "context_when": config.context_when,
        "context_confidence": config.context_confidence,
        "max_tokens": config.max_new_tokens,
        "max_prompt_tokens": config.max_prompt_tokens,
        "decoding": "greedy",
        "monitors": "off",
        "repetitions": 1,
        "similarity": SIMILARITY,
        **describe(),
    }


def default_out(model: str, machine: str, source: str, lines: str = "cross-file", when: str = "unsure") -> Path:
    """benchmarks/results/repo-<machine>-<model>-<source>.json, the model and source as they were
    named; in-file tasks add -in-file, context in every prompt (`when` "always") adds -always."""
    name, tree = (re.sub(r"[^\w.-]+", "-", Path(part).name.lower()).strip("-") for part in (model, source))
    suffix = ("" if lines == "cross-file" else f"-{lines}") + ("" if when == "unsure" else f"-{when}")
    return Path(__file__).parent / "results" / f"repo-{machine}-{name}-{tree}{suffix}.json"


def lines_kind(setup: dict) -> str:
    """The kind of a run's tasks; a result file from before the kind was recorded is cross-file."""
    return setup.get("lines", "cross-file")


def context_when(setup: dict) -> str:
    """When a run's 'with context' setting used the context; a result file from before the
    setting existed put it in every prompt."""
    return setup.get("context_when", "always")


def _how(setup: dict, tasks: int) -> str:
    s = setup
    model = "" if s["model_flag"] == DEFAULT_MODEL else f" --model {s['model_flag']}"
    kind = lines_kind(s)
    flag = "" if kind == "cross-file" else f" --lines {kind}"
    whose = "another file" if kind == "cross-file" else "its own file"
    when, with_context = context_when(s), "with repository context"
    if when == "unsure":
        flag += f" --context-when unsure --context-confidence {s['context_confidence']}"
        with_context = (
            f"with repository context where the completion written without it was unsure of its first line (a step's top "
            f"probability below {s['context_confidence']}; it was then written again with the context)"
        )
    elif "context_when" in s:
        flag += " --context-when always"
    return (
        f"guidecode bench repo --source {s['source']['name']}{flag} --limit {s['limit']}{model} --seed {s['seed']} --context-tokens {s['context_tokens']} "
        f"--max-prompt-tokens {s['max_prompt_tokens']}: "
        f"{s['model']} on {s['source']['description']}, {tasks} next-line tasks whose line uses a symbol of {whose}, chosen with seed {s['seed']}; "
        f"each completed {with_context} "
        f"(at most {s['context_tokens']} tokens of context, the language server's answers gathered untimed before each task, as earlier "
        f"keystrokes in the file would have) and without, in one process, alternating which goes first; greedy, at most "
        f"{s['max_tokens']} new tokens, a {s['max_prompt_tokens']}-token prompt budget, monitors off, one repetition; "
        f"torch {s['torch']}, transformers {s['transformers']}, {s['cores']} cores"
    )


def as_json(run: Run, setup: dict, found: RepoLines) -> dict:
    mining = {k: getattr(found, k) for k in ("files_total", "files_with_lines", "lines", "skipped_large", "skipped_unparsable")}
    return {
        "how": _how(setup, len(run.records)),
        "machine_kind": setup["machine_kind"],
        "setup": setup,
        "mining": mining,
        "results": [run.with_context.summary(), run.without_context.summary()],
        "exact_match_gain": run.gain,
        "symbol_in_context": sum(bool(r.get("symbol_in_context")) for r in run.records),
        "tasks": run.records,
    }


def report(result: dict) -> str:
    """The printed table: one row per setting, the gain, and how it was obtained."""
    s = result["setup"]
    lines = [
        f"guidecode bench repo — {s['source']['description']} ({len(result['tasks'])} {lines_kind(s)} tasks from {s['source']['root']})",
        f"how: {result['how']}",
        f"machine: {s['cpu']}" + (f", {s['gpu']}" if s["gpu"] else "") + f", Python {s['python']}; edit similarity: {s['similarity']}",
        f"{'context':16} {'exact':>7} {'edit sim':>8} {'ident':>7} {'s/compl':>8} {'prompt tok':>10} {'context tok':>11}",
    ]
    unsure = context_when(s) == "unsure"
    for r in result["results"]:
        label = f"{r['context_tokens_setting']} tokens" + (" unsure" if unsure else "") if r["context_tokens_setting"] else "off"
        lines.append(
            f"{label:16} {r['exact_match']:7.1%} {r['edit_similarity']:8.3f} {r['identifier_match']:7.1%} "
            f"{r['seconds_per_completion_p50']:8.2f} {r['prompt_tokens_mean']:10.0f} {r['context_tokens_mean']:11.0f}"
        )
    gain = result["exact_match_gain"]
    lines.append("exact match with context / without - 1: " + ("n/a (no exact match without context)" if gain is None else f"{gain:+.1%}"))
    whose = "the other file's" if lines_kind(s) == "cross-file" else "the file's own"
    lines.append(f"tasks whose context held {whose} symbol: {result.get('symbol_in_context', 0)} of {len(result['tasks'])}")
    if unsure:
        retried = sum(bool(task["with_context"].get("context_retried")) for task in result["tasks"])
        lines.append(f"completions unsure without context, so written again with it: {retried} of {len(result['tasks'])}")
    return "\n".join(lines)
