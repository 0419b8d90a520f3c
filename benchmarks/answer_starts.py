"""`python -m benchmarks.answer_starts`: how a decoder's answers begin, against greedy's, on the tasks
it lost: the first word of each answer, counted over all tasks and over the tasks greedy passed
and it did not, with how many of those ran to the token limit. From finished `guidecode eval` run
folders of one dataset (greedy's first).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from assistant.evaluation.store import RunStore

SHOWN = 5  # first words per run in the summary


def first_word(completion: str) -> str:
    words = completion.split()
    return words[0].split("(")[0] if words else "(empty)"


def answers(folder: Path) -> dict[str, dict]:
    """Sample 0 of each task."""
    return {task: record for (task, sample), record in sorted(RunStore(folder).records().items()) if sample == 0}


def starts(greedy: dict[str, dict], other: dict[str, dict]) -> dict:
    passed = lambda record: record["result"]["status"] == "passed"  # noqa: E731
    lost = [t for t in other if t in greedy and passed(greedy[t]) and not passed(other[t])]
    every = Counter(first_word(r["completion"]) for r in other.values())
    return {
        "tasks": len(other),
        "lost": len(lost),
        "lost_at_token_limit": sum(other[t]["stop_reason"] == "max_tokens" for t in lost),
        "first_words": dict(every.most_common(SHOWN)),
        "first_words_of_losses": dict(Counter(first_word(other[t]["completion"]) for t in lost).most_common(SHOWN)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.answer_starts", description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="run folders of one dataset, greedy's first")
    parser.add_argument("--how", required=True, help="how the runs were made")
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    from .environment import describe, write_result
    from .scope_parse import machine_kind

    greedy = answers(args.folders[0])
    runs = {}
    for folder in args.folders:
        config = json.loads((folder / "config.json").read_text())
        runs[config["decoder"]] = starts(greedy, answers(folder))
    dataset = json.loads((args.folders[0] / "config.json").read_text())["dataset"]
    write_result(args.out, {"machine_kind": machine_kind(), **describe(), "how": args.how, "dataset_name": dataset, "runs": runs})
    print(json.dumps(runs, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
