"""`python -m benchmarks.decoder_sets`: decoders against greedy on several datasets, from finished
`guidecode eval` run folders: pass@1, the ratio to greedy, and a sign test on the tasks only one of
the two passed, per dataset.

Each `--set NAME=FOLDER,FOLDER,...` names one dataset's run folders, greedy's first (the runs are
compared on the tasks all of them finished, as `guidecode compare` does). The result file keeps the
comparison, every task's outcome per decoder and the sign tests; `--how` says how the runs were made
(the commands), since the folders are not committed.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

from assistant.evaluation.compare import compare
from assistant.evaluation.store import RunStore

from .stats import sign_test


def passed_by_task(folder: Path) -> dict[str, bool]:
    """Sample 0 of each task: whether it passed its tests."""
    records = RunStore(folder).records()
    return {task: record["result"]["status"] == "passed" for (task, sample), record in sorted(records.items()) if sample == 0}


def versus(first: dict[str, bool], second: dict[str, bool]) -> dict:
    """The tasks only `first` passed, only `second` passed, and the two-sided sign test on them."""
    shared = first.keys() & second.keys()
    only_first = sum(first[t] and not second[t] for t in shared)
    only_second = sum(second[t] and not first[t] for t in shared)
    return {"only_it": only_first, "only_greedy": only_second, "p": float(f"{sign_test(only_first, only_second):.3g}")}


def one_set(folders: list[Path], pairs: tuple[tuple[str, str], ...] = ()) -> dict:
    comparison = compare(folders)
    outcomes = {row.decoder: passed_by_task(folder) for row, folder in zip(comparison.rows, folders)}
    greedy = outcomes[comparison.rows[0].decoder]
    tests = {decoder: versus(passed, greedy) for decoder, passed in list(outcomes.items())[1:]}
    pair_tests = {f"{a} vs {b}": versus(outcomes[a], outcomes[b]) for a, b in pairs if a in outcomes and b in outcomes}
    result = {"comparison": {"tasks": comparison.tasks, "rows": [asdict(row) for row in comparison.rows]}, "sign_tests": tests}
    return result | ({"pairs": pair_tests} if pair_tests else {}) | {"passed_by_task": outcomes}


def _pair(text: str) -> tuple[str, str]:
    first, sep, second = text.partition(":")
    if not sep or not first or not second:
        raise SystemExit(f"--versus takes two decoder names as A:B, got {text!r}")
    return first, second


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decoder_sets", description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", required=True, metavar="NAME=FOLDER,...", help="a dataset's run folders, greedy's first")
    parser.add_argument(
        "--versus", action="append", default=[], metavar="A:B", help="also a sign test of decoder A against decoder B, on each set that ran both"
    )
    parser.add_argument("--how", required=True, help="how the runs were made")
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    from .environment import describe, write_result
    from .scope_parse import machine_kind

    sets = {}
    for spec in args.set:
        name, _, folders = spec.partition("=")
        sets[name] = one_set([Path(f) for f in folders.split(",")], tuple(_pair(p) for p in args.versus))
    result = {"machine_kind": machine_kind(), **describe(), "how": args.how, "sets": sets}
    write_result(args.out, result)
    for name, data in sets.items():
        for row in data["comparison"]["rows"]:
            print(name, row["decoder"], row["passed"], row["answers"], row["pass_ratio"], data["sign_tests"].get(row["decoder"], ""))
        for pair, test in data.get("pairs", {}).items():
            print(name, pair, test)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
