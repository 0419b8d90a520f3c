"""`python -m benchmarks.first_token`: how well a rule picks the answer's first token.

Most of the tasks whose outcome AdaDec changes first switch away from greedy at the answer's first
token (benchmarks/adadec_pauses.py): the choice of approach. This study writes, for every task,
the answer greedy writes after each of the top 5 allowed first tokens (AdaDec looks at 3), runs each
against the hidden tests, and keeps each token's log-probability and the first step's entropy.
A rule that picks one of the first 3 from what the model says (the first n tokens' mean, the
whole answer's mean, ...) is then scored on every task at no further cost: `rules` prints each
rule's tasks passed, gained and lost against greedy's (candidate 0), and the oracle's (any passes).

`public` then runs each answer against its task's public tests (the docstring's examples, as the
search reads them), so that one more rule, not the model's, can be scored beside them: take the
first of the 3 whose answer passes its examples, else greedy's.

`collect` runs `guidecode eval`'s loop with a decoder registered here: sample i of a task is the
answer from the i-th first token (sample 0 is greedy's answer, the same record a greedy run
writes). It pauses at every step, so the loop takes no drafts: the answers are plain greedy ones.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PUBLIC = "public.jsonl"  # the `public` command's verdicts, beside the study's run
CANDIDATES = 5  # first tokens studied: AdaDec's top 3, and 2 more for rules that merge candidates of one text
DECODER = "first-token-study"


@dataclass
class ForcedFirst:
    """A reranker (decoders/rerank.py) that decides every step: the `rank`-th allowed token at
    the answer's first step, the first one after; each chosen token's log-probability kept."""

    rank: int
    logprobs: list[float] = field(default_factory=list)
    first_entropy: float | None = None
    first_tokens: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        from decoders.rerank import RerankStats

        self.stats = RerankStats()

    def pauses(self, masked, guide=None, row=None) -> bool:
        from decoders.rerank import entropy

        if self.first_entropy is None:
            self.first_entropy = entropy(masked)
        return True

    def choose(self, session, guide) -> int:
        from decoders.adadec import _logprob
        from decoders.guides import best_allowed

        candidates = best_allowed(session.next_logits, guide, CANDIDATES)
        if not session.generated:
            self.first_tokens = candidates
        token = candidates[min(self.rank, len(candidates) - 1)] if not session.generated else candidates[0]
        self.logprobs.append(_logprob(session.next_logits, token))
        return token

    def hint(self) -> list[int]:
        return []


class StudyDecoder:
    """Sample i of a task: greedy's answer after the i-th allowed first token."""

    def __init__(self, settings, progress, log: Path):
        from assistant.evaluation.decoding import AssistantDecoder, _load_assistant

        self.inner = AssistantDecoder(_load_assistant(settings, progress), settings.max_tokens)
        self.log = log

    def solve(self, task, sample: int):
        assistant = self.inner.assistant
        forced = ForcedFirst(sample)
        assistant._uncertainty_reranker = lambda request: forced  # type: ignore[method-assign]  # the study's only hook
        candidate = self.inner.solve(task, sample)
        tokenizer = assistant.loaded.tokenizer
        row = {
            "task_id": task.task_id,
            "sample": sample,
            "entropy": forced.first_entropy,
            "first_tokens": [tokenizer.decode([t]) for t in forced.first_tokens],
            "logprobs": [round(p, 5) for p in forced.logprobs[: candidate.tokens]],
        }
        with self.log.open("a") as out:
            out.write(json.dumps(row) + "\n")
        return candidate

    def describe(self) -> dict:
        return {**self.inner.describe(), "speculation": "off (every step decided by the study's rule)"}

    def close(self) -> None:
        self.inner.close()


def collect(dataset: str, model: str, out: Path, limit: int | None = None) -> dict:
    from assistant.evaluation.decoding import MODEL_SETTINGS, DecoderSpec, register
    from assistant.evaluation.harness import run_evaluation
    from assistant.evaluation.settings import EvalSettings
    from assistant.progress import Progress

    out.mkdir(parents=True, exist_ok=True)
    log = out / "first-tokens.jsonl"
    register(DecoderSpec(DECODER, lambda s, p: StudyDecoder(s, p, log), MODEL_SETTINGS, "study", deterministic=False))
    settings = EvalSettings(dataset=dataset, decoder=DECODER, model=model, samples=CANDIDATES, out=out, limit=limit)
    return run_evaluation(settings, Progress.to_stderr(), print)


def judge(dataset: str, run: Path) -> dict[str, int]:
    """Runs every collected answer against its task's public tests in the sandbox, writing
    `public.jsonl` (task, sample, whether it passed them; null: the docstring shows no example)."""
    from assistant.evaluation.datasets import load_dataset
    from assistant.public_tests import docstring_tests
    from sandbox import Limits, Sandbox

    examples = {t.task_id: docstring_tests(t.prompt, t.entry_point) for t in load_dataset(dataset).tasks}  # once per task, not per answer
    sandbox, counts = Sandbox(Limits(timeout_s=10.0)), {"passed": 0, "failed": 0, "no examples": 0}
    with (run / PUBLIC).open("w") as out:
        for record in _rows(run / "samples.jsonl"):
            tests = examples[record["task_id"]]
            passed = None if tests.empty else sandbox.run(record["program"], tests.source).passed
            counts["no examples" if passed is None else "passed" if passed else "failed"] += 1
            out.write(json.dumps({"task_id": record["task_id"], "sample": record["sample"], "public": passed}) + "\n")
    return counts


# --- rules over the collected candidates ---------------------------------------------------------

TOP_K = 3  # the candidates a rule picks from, as AdaDec's pause does
COPIED = 12  # characters of an answer's start found verbatim in the prompt that make it a copy

Rule = Callable[[list[dict], str], int]  # (a task's candidates, its prompt) -> the index taken


def lookahead_mean(length: int) -> Rule:
    return lambda cands, prompt: _best(cands[:TOP_K], lambda c: _mean(c["logprobs"][:length]))


def whole_mean(cands: list[dict], prompt: str) -> int:
    return _best(cands[:TOP_K], lambda c: _mean(c["logprobs"]))


def whole_sum(cands: list[dict], prompt: str) -> int:
    return _best(cands[:TOP_K], lambda c: math.fsum(c["logprobs"]))


def whole_normalized(power: float) -> Rule:
    """The whole answer's log-probability over its length to `power` (0: the sum, 1: the mean),
    as beam search's length penalty does."""
    return lambda cands, prompt: _best(cands[:TOP_K], lambda c: math.fsum(c["logprobs"]) / max(len(c["logprobs"]), 1) ** power)


def distinct(rule: Rule) -> Rule:
    """`rule` over the first TOP_K candidates whose answers differ in text (one text tokenized
    two ways counts once, at its best rank)."""

    def chosen(cands: list[dict], prompt: str) -> int:
        seen, kept = set(), []
        for i, c in enumerate(cands):
            if c["completion"] not in seen:
                seen.add(c["completion"])
                kept.append(i)
        return kept[rule([cands[i] for i in kept], prompt)]

    return chosen


def no_copies(rule: Rule) -> Rule:
    """`rule` without the candidates (but greedy's) whose first line repeats the prompt verbatim."""

    def chosen(cands: list[dict], prompt: str) -> int:
        kept = [i for i, c in enumerate(cands) if i == 0 or not _copies(c["completion"], prompt)]
        return kept[rule([cands[i] for i in kept], prompt)]

    return chosen


def public_example(cands: list[dict], prompt: str) -> int:
    """The first of the top candidates whose answer passes its docstring's examples, else greedy's:
    a judge that runs the answers rather than reading the model's likelihood."""
    return next((i for i, c in enumerate(cands[:TOP_K]) if c.get("public")), 0)


def _copies(completion: str, prompt: str) -> bool:
    line = completion.strip().split("\n")[0].strip()
    return len(line) >= COPIED and line in prompt


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values) if values else -math.inf


def _best(cands: list[dict], score: Callable[[dict], float]) -> int:
    scores = [score(c) for c in cands]
    return max(range(len(cands)), key=lambda i: (scores[i], -i))  # greedy's wins ties


BASE: dict[str, Rule] = {
    **{f"first {n} tokens, mean": lookahead_mean(n) for n in (1, 2, 3, 5, 8, 12, 16, 24, 32, 48)},
    "whole answer, mean": whole_mean,
    "whole answer, sum": whole_sum,
    **{f"whole answer, sum / length^{p}": whole_normalized(p) for p in (0.25, 0.5, 0.75)},
}
JUDGED: dict[str, Rule] = {"the docstring's examples, run (else greedy's)": public_example}  # scored where `public` ran
GUARDS: dict[str, Callable[[Rule], Rule]] = {
    "as is": lambda rule: rule,
    "distinct texts": distinct,
    "distinct texts, no copies": lambda rule: distinct(no_copies(rule)),
}


def load(folder: Path) -> dict[str, list[dict]]:
    """task -> its candidates in rank order, each with `passed`, `completion` and the study's row."""
    logged = {(r["task_id"], r["sample"]): r for r in _rows(folder / "first-tokens.jsonl")}
    judged = {(r["task_id"], r["sample"]): r["public"] for r in _rows(folder / PUBLIC)} if (folder / PUBLIC).is_file() else {}
    tasks: dict[str, list[dict]] = {}
    for record in _rows(folder / "samples.jsonl"):
        key = (record["task_id"], record["sample"])
        row = logged[key] | {"passed": record["result"]["status"] == "passed", "completion": record["completion"]}
        if judged:
            row["public"] = judged[key]
        tasks.setdefault(record["task_id"], []).append(row)
    return {t: sorted(c, key=lambda r: r["sample"]) for t, c in tasks.items()}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def score_rules(tasks: dict[str, list[dict]], prompts: dict[str, str]) -> dict:
    """Each rule under each guard against greedy: tasks passed, gained, lost and a two-sided sign
    test; and the oracle's count (any of the first k passes)."""
    from .stats import sign_test

    greedy = {t: c[0]["passed"] for t, c in tasks.items()}
    rows = []
    judged = all("public" in c for cands in tasks.values() for c in cands)
    for name, rule in (BASE | JUDGED if judged else BASE).items():
        cells = {}
        for guard, wrap in GUARDS.items():
            chosen = wrap(rule)
            passed = {t: c[chosen(c, prompts[t])]["passed"] for t, c in tasks.items()}
            gained = sum(passed[t] and not greedy[t] for t in tasks)
            lost = sum(greedy[t] and not passed[t] for t in tasks)
            cells[guard] = {
                "passed": sum(passed.values()),
                "gained": gained,
                "lost": lost,
                "p": float(f"{sign_test(gained, lost):.3g}"),
            }  # significant digits: a tiny p stays readable
        rows.append({"rule": name, **cells})
    oracle = {k: sum(any(c["passed"] for c in cands[:k]) for cands in tasks.values()) for k in (TOP_K, CANDIDATES)}
    entropies = sorted(c[0]["entropy"] for c in tasks.values())
    return {"tasks": len(tasks), "greedy": sum(greedy.values()), "rules": rows, "oracle": oracle, "first_step_entropy_min": round(entropies[0], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.first_token", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("collect", "public", "rules"))
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--run", type=Path, required=True, help="the study's run folder")
    parser.add_argument("--limit", type=int, help="collect: only the first N tasks")
    parser.add_argument("--out", type=Path, help="rules: the result file (JSON)")
    args = parser.parse_args(argv)
    if args.command == "collect":
        collect(args.dataset, args.model, args.run, args.limit)
        return 0
    if args.command == "public":
        print(judge(args.dataset, args.run))
        return 0
    from assistant.evaluation.datasets import load_dataset

    data = load_dataset(args.dataset)
    scored = score_rules(load(args.run), {t.task_id: t.prompt for t in data.tasks})
    for row in scored["rules"]:
        print(f"{row['rule']:<34}", "  ".join(f"{g}: {c['passed']} (+{c['gained']} -{c['lost']})" for g, c in row.items() if g != "rule"))
    print(f"greedy {scored['greedy']}/{scored['tasks']}; oracle {scored['oracle']}")
    if args.out:
        from .environment import describe, write_result
        from .scope_parse import machine_kind

        how = (
            f"python -m benchmarks.first_token collect --dataset {args.dataset} --model {args.model} (the eval's greedy decoder, embedded weights, "
            f"bf16, 512 new tokens at most; the top {CANDIDATES} allowed first tokens, each answer run against the hidden tests in the sandbox), "
            f"then python -m benchmarks.first_token rules: each rule picks among the first {TOP_K} (the guards may reach the first {CANDIDATES})"
        )
        if (args.run / PUBLIC).is_file():
            how += (
                "; python -m benchmarks.first_token public ran each answer against its docstring's examples (the public tests the search reads) "
                "in the sandbox, for the last row, whose rule runs the answers instead of reading the model's likelihood"
            )
        write_result(args.out, {"machine_kind": machine_kind(), **describe(), "how": how, "dataset_name": data.name, **scored})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
