"""`python -m benchmarks.adadec_pauses`: where AdaDec pauses on a dataset and what its lookaheads
prefer, beside a greedy run and an AdaDec run of the same data (`guidecode eval` run folders).

For every task the eval's AdaDec decoder writes the answer again (the same records as the run: a
task's answer depends on nothing else) while each pause is recorded: how many tokens into the
answer, each candidate's lookahead text and score, and which one won. The summary counts pauses
and the pauses where the winner is not greedy's choice ("switches"), how many tasks first switch at
the answer's first token, and, among tasks whose outcome differs from greedy's, the first word of
greedy's and of AdaDec's choice at the first switch, with whether the winning lookahead repeats 12
or more characters of the prompt verbatim (a copied docstring example). Pauses are recorded by
wrapping `AdaDec.choose` in this process.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

COPIED = 12  # characters of a lookahead found verbatim in the prompt that make it a copy


def record_pauses(dataset: str, model: str) -> tuple[str, list[dict]]:
    """(the dataset's name, each task with its answer and pauses)."""
    from assistant.evaluation.datasets import load_dataset
    from assistant.evaluation.decoding import _build_adadec
    from assistant.evaluation.settings import EvalSettings
    from assistant.progress import Progress
    from decoders import adadec

    decoder = _build_adadec(EvalSettings(dataset=dataset, decoder="adadec", model=model), Progress.silent())
    decode = decoder.assistant.loaded.tokenizer.decode
    pauses: list[dict] = []
    choose = adadec.AdaDec.choose

    def recorded(self, session, guide):
        token = choose(self, session, guide)
        looks = [{"text": decode(list(look.tokens)), "score": round(look.score, 4)} for look in self.last]
        pauses.append({"at": len(session.generated), "looks": looks, "chosen": [look.token for look in self.last].index(token)})
        return token

    adadec.AdaDec.choose = recorded
    tasks = []
    data = load_dataset(dataset)
    try:
        for task in data.tasks:
            pauses.clear()
            answer = decoder.solve(task, 0)
            tasks.append({"task_id": task.task_id, "prompt": task.prompt, "completion": answer.completion, "pauses": list(pauses)})
    finally:
        adadec.AdaDec.choose = choose
    return data.name, tasks


def passed(folder: Path) -> dict[str, bool]:
    records = map(json.loads, (folder / "samples.jsonl").read_text().splitlines())
    return {r["task_id"]: r["result"]["status"] == "passed" for r in records if r["sample"] == 0}


def summarize(tasks: list[dict], greedy: dict[str, bool], adadec: dict[str, bool]) -> dict:
    first_word = lambda text: (text.split() or [repr(text)])[0]  # noqa: E731
    switches = [p for t in tasks for p in t["pauses"] if p["chosen"] != 0]
    firsts = {t["task_id"]: next(p for p in t["pauses"] if p["chosen"] != 0) for t in tasks if any(p["chosen"] != 0 for p in t["pauses"])}
    prompts = {t["task_id"]: t["prompt"] for t in tasks}
    flips = Counter()
    for task, pause in firsts.items():
        if greedy[task] == adadec[task]:
            continue
        won = pause["looks"][pause["chosen"]]["text"].strip()
        copied = len(won) >= COPIED and won in prompts[task]
        kind = f"{first_word(pause['looks'][0]['text'])} -> {first_word(won)}" + (" (copies the prompt)" if copied else "")
        flips[("gained" if adadec[task] else "lost", "first token" if pause["at"] == 0 else "later", kind)] += 1
    return {
        "tasks": len(tasks),
        "pauses": sum(len(t["pauses"]) for t in tasks),
        "switches": len(switches),
        "tasks_switching": len(firsts),
        "tasks_first_switching_at_first_token": sum(p["at"] == 0 for p in firsts.values()),
        "gained": sum(adadec[t] and not greedy[t] for t in greedy),
        "lost": sum(greedy[t] and not adadec[t] for t in greedy),
        "flips_by_first_switch": [{"outcome": o, "where": w, "greedy -> adadec": k, "tasks": n} for (o, w, k), n in flips.most_common()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.adadec_pauses", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--greedy", type=Path, required=True, help="a finished greedy run folder of the same data")
    parser.add_argument("--adadec", type=Path, required=True, help="a finished adadec run folder of the same data")
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    name, tasks = record_pauses(args.dataset, args.model)
    summary = summarize(tasks, passed(args.greedy), passed(args.adadec))
    from .environment import describe, write_result
    from .scope_parse import machine_kind

    how = (
        f"python -m benchmarks.adadec_pauses --dataset {args.dataset} --model {args.model}: the eval's adadec decoder (k 3, 5 tokens, mean, the "
        "model's learned threshold) on every task, each pause recorded; outcomes from a greedy and an adadec `guidecode eval` run of the same data"
    )
    result = {"machine_kind": machine_kind(), **describe(), "how": how, "dataset_name": name, "summary": summary}
    write_result(args.out, result)
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
