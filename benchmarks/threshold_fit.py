"""`python -m benchmarks.threshold_fit`: does the entropy threshold learned from package code fit
the prompts of an evaluation set?

`guidecode calibrate` learns a model's threshold by teacher forcing over files of installed
packages: at each position, the entropy of the next-token distribution and whether the model's first
choice is not the file's next token; the threshold is where a logistic fit of "wrong" on entropy
crosses one half. Here the same measurement runs over each task's reference answer (its
`canonical_solution`), after the prompt the eval's decoders see (the function's file with its body
empty, in the model's fill-in-the-middle format, the healed end of the prefix written again). Per
dataset it gives the threshold that set would learn, and how the learned one splits its positions;
the answer's first token, where the approach is chosen, is reported apart.

A reference answer is one right program among many, so "wrong" here means "not the reference's
token", as it does on package code; the comparison is between sets measured the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Forced:
    """One dataset's positions: entropy and whether greedy's token differs from the reference's."""

    entropy: np.ndarray  # [positions] float32, nats
    wrong: np.ndarray  # [positions] bool
    first: np.ndarray  # [positions] bool: the answer's first token


def reference_ids(assistant, prompt_text: str, entry_point: str, answer: str) -> tuple[list[int], int]:
    """The eval's prompt for the task and the reference answer after it, as token ids, and how
    many of them are the answer's (the healed end of the prefix included, as decoding writes it)."""
    from assistant.functions import find_function_slot

    slot = find_function_slot(prompt_text, entry_point)
    prefix, suffix = slot.document[: slot.cursor], slot.document[slot.cursor :]
    prompt, healed = assistant.window.build(prefix, suffix, heal=assistant.config.healing)
    body = reference_body(answer, entry_point, slot.indent)
    written = healed + body.lstrip(" \t").rstrip()  # the prefix already holds the body's indentation
    target = assistant.loaded.tokenizer.encode(written, add_special_tokens=False)
    return [*prompt, *target], len(target)


def reference_body(answer: str, entry_point: str, indent: str) -> str:
    """The body a decoder would write: HumanEval's reference is one already; MBPP's is the whole
    function (with its own indentation), whose body is taken and indented as the slot's."""
    import ast
    import textwrap

    try:
        tree = ast.parse(answer)
    except SyntaxError:  # an indented body alone does not parse as a module
        return answer
    function = next((n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name == entry_point), None)
    if function is None or function.end_lineno is None:
        return answer
    lines = answer.splitlines()[function.body[0].lineno - 1 : function.end_lineno]
    return textwrap.indent(textwrap.dedent("\n".join(lines).expandtabs(4)), indent)


def force(assistant, tasks) -> Forced:
    """Teacher forcing over every task's reference answer (tasks without one are skipped)."""
    from assistant.teacher_forcing import score_window

    entropies, wrongs, firsts = [], [], []
    for task in tasks:
        if not task.canonical_solution:
            continue
        ids, answer = reference_ids(assistant, task.prompt, task.entry_point, task.canonical_solution)
        entropy, wrong = score_window(assistant.loaded.model, ids, context=len(ids) - answer - 1)  # [answer] each
        entropies.append(entropy.numpy())
        wrongs.append(wrong.numpy())
        firsts.append(np.arange(answer) == 0)
    return Forced(np.concatenate(entropies), np.concatenate(wrongs), np.concatenate(firsts))


def split(forced: Forced, threshold: float, where: np.ndarray | None = None) -> dict:
    """How `threshold` splits the positions (all, or those `where` says)."""
    h, wrong = (forced.entropy, forced.wrong) if where is None else (forced.entropy[where], forced.wrong[where])
    above = h > threshold
    rate = lambda flags: float(flags.mean()) if len(flags) else None  # noqa: E731
    return {"positions": int(len(h)), "wrong": rate(wrong), "share_above": rate(above), "wrong_above": rate(wrong[above]), "wrong_below": rate(wrong[~above])}


def summarize(forced: Forced, learned: float) -> dict:
    from assistant.calibration import fit_threshold

    fitted, stats = fit_threshold(forced.entropy, forced.wrong)
    return {"fitted": fitted, "fit": asdict(stats), "at_learned": split(forced, learned), "first_token_at_learned": split(forced, learned, forced.first)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.threshold_fit", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", required=True, help="humaneval or a .jsonl file; repeat for several")
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    from assistant.assistant import Assistant
    from assistant.config import AssistantConfig
    from assistant.evaluation.datasets import load_dataset
    from assistant.progress import Progress
    from assistant.thresholds import entropy_threshold

    from .environment import describe, write_result
    from .scope_parse import machine_kind

    assistant = Assistant.load(AssistantConfig(model=args.model), Progress.to_stderr())
    learned = entropy_threshold(assistant.loaded.name, assistant.loaded.tokenizer)
    if learned is None:
        raise SystemExit(f"no threshold learned for {assistant.loaded.name}: run guidecode calibrate --model {args.model}")
    sets = {}
    for spec in args.dataset:
        dataset = load_dataset(spec)
        sets[dataset.name] = summarize(force(assistant, dataset.tasks), learned.value)
        print(dataset.name, {k: v for k, v in sets[dataset.name].items() if k != "fit"})
    how = (
        f"python -m benchmarks.threshold_fit --model {args.model} " + " ".join(f"--dataset {d}" for d in args.dataset) + ": teacher forcing over each "
        "task's canonical_solution after the eval's prompt (embedded weights as guidecode eval loads them); the package-code row is the "
        "calibration stored with the learned threshold (assistant/thresholds.json)"
    )
    package = {"threshold": learned.value, "fit": asdict(learned.stats), "positions": learned.positions}
    result = {"machine_kind": machine_kind(), **describe(), "how": how, "model": assistant.loaded.name, "package_code": package, "sets": sets}
    write_result(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
