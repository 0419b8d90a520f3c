"""The first-token study's rules (benchmarks/first_token.py), the answer-start counts
(benchmarks/answer_starts.py) and the pairwise sign tests of benchmarks/decoder_sets.py, on
hand-made candidates whose right choice is known."""

from __future__ import annotations

import json

import pytest

from benchmarks.answer_starts import first_word, starts
from benchmarks.decoder_sets import versus
from benchmarks.first_token import distinct, judge, lookahead_mean, no_copies, public_example, score_rules, whole_mean, whole_sum

PROMPT = 'def f(x):\n    """Double x.\n    assert f(2) == 4\n    """\n'


def candidate(completion: str, logprobs: list[float], passed: bool, entropy: float = 3.0) -> dict:
    return {"completion": completion, "logprobs": logprobs, "passed": passed, "entropy": entropy}


ONE_LINER = candidate("    return 2 * x", [-1.0, -0.1, -0.1], True)
LOOP = candidate("    y = 0\n    for _ in range(2):\n        y += x\n    return y", [-1.1] + [-0.02] * 11, True)
COPY = candidate("    assert f(2) == 4\n    assert f(2) == 4", [-2.0] + [-0.001] * 40, False)


def test_each_rule_scores_what_it_says():
    cands = [ONE_LINER, COPY, LOOP]
    assert lookahead_mean(1)(cands, PROMPT) == 0  # the first token alone: greedy's, the likeliest
    assert lookahead_mean(3)(cands, PROMPT) == 2  # the loop's first three tokens are likelier than the one-liner's
    assert whole_mean(cands, PROMPT) == 1  # the copy's long near-certain tail wins the mean
    assert whole_sum(cands, PROMPT) == 0  # the short answer wins the sum


def test_guards_merge_one_text_and_drop_copies_of_the_prompt():
    twice = candidate(ONE_LINER["completion"], [-3.0, -0.2], True)  # the same text tokenized another way
    cands = [LOOP, twice, COPY, ONE_LINER]
    assert distinct(whole_mean)(cands, PROMPT) == 2  # [LOOP, twice, COPY]: the copy still wins
    assert distinct(no_copies(whole_mean))(cands, PROMPT) == 0  # [LOOP, twice]: the copy is out
    assert no_copies(whole_mean)([COPY, LOOP], PROMPT) == 0  # greedy's own answer is never dropped


def test_rules_are_scored_against_greedy_with_a_sign_test():
    tasks = {"a": [COPY, ONE_LINER, LOOP], "b": [ONE_LINER, COPY, LOOP]}
    scored = score_rules(tasks, {"a": PROMPT, "b": PROMPT})
    assert (scored["greedy"], scored["oracle"]) == (1, {3: 2, 5: 2})
    rows = {row["rule"]: row for row in scored["rules"]}
    assert rows["whole answer, sum"]["as is"] == {"passed": 2, "gained": 1, "lost": 0, "p": 1.0}
    assert rows["whole answer, mean"]["as is"] == {"passed": 0, "gained": 0, "lost": 1, "p": 1.0}


def record(completion: str, passed: bool, stop: str = "stop") -> dict:
    return {"completion": completion, "stop_reason": stop, "result": {"status": "passed" if passed else "failed"}}


def test_answer_starts_count_first_words_over_all_answers_and_the_lost_ones():
    greedy = {"a": record("    return 1", True), "b": record("    return 2", True), "c": record("    for i in x:", False)}
    other = {"a": record("    assert f(1) == 1", False, "max_tokens"), "b": record("    return 2", True), "c": record("    print(x)", True)}
    counted = starts(greedy, other)
    assert counted["lost"] == 1 and counted["lost_at_token_limit"] == 1
    assert counted["first_words"] == {"assert": 1, "return": 1, "print": 1}
    assert counted["first_words_of_losses"] == {"assert": 1}
    assert first_word("   ") == "(empty)"


def test_versus_counts_tasks_only_one_side_passed():
    first = {"a": True, "b": True, "c": False, "d": True}
    second = {"a": True, "b": False, "c": True, "d": False, "e": True}  # "e" is not shared: left out
    assert versus(first, second) == {"only_it": 2, "only_greedy": 1, "p": pytest.approx(1.0)}


def test_the_public_rule_takes_the_first_answer_passing_its_examples_else_greedys():
    judged = lambda c, public: {**c, "public": public}  # noqa: E731
    assert public_example([judged(COPY, False), judged(LOOP, True), judged(ONE_LINER, True)], PROMPT) == 1
    assert public_example([judged(COPY, False), judged(LOOP, False), judged(ONE_LINER, False), judged(ONE_LINER, True)], PROMPT) == 0
    assert public_example([judged(COPY, None), judged(LOOP, None)], PROMPT) == 0  # no examples: greedy's
    tasks = {"a": [judged(COPY, False), judged(ONE_LINER, True), judged(LOOP, True)]}
    rows = {row["rule"]: row for row in score_rules(tasks, {"a": PROMPT})["rules"]}
    assert rows["the docstring's examples, run (else greedy's)"]["as is"] == {"passed": 1, "gained": 1, "lost": 0, "p": 1.0}
    assert "the docstring's examples, run (else greedy's)" not in {r["rule"] for r in score_rules({"a": [COPY, ONE_LINER]}, {"a": PROMPT})["rules"]}


def test_public_runs_each_collected_answer_against_its_docstring_examples_in_the_sandbox(tmp_path):
    task = {"task_id": "t/0", "prompt": PROMPT, "test": "def check(candidate):\n    assert candidate(3) == 6\n", "entry_point": "f"}
    dataset = tmp_path / "tiny.jsonl"
    dataset.write_text(json.dumps(task) + "\n")
    run = tmp_path / "run"
    run.mkdir()
    answers = [ONE_LINER, COPY, candidate("    return x + 2", [-1.0], False)]
    records = [{"task_id": "t/0", "sample": i, "program": PROMPT + c["completion"] + "\n"} for i, c in enumerate(answers)]
    (run / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    assert judge(str(dataset), run) == {"passed": 2, "failed": 1, "no examples": 0}  # x + 2 happens to pass f(2) == 4
    verdicts = [json.loads(line)["public"] for line in (run / "public.jsonl").read_text().splitlines()]
    assert verdicts == [True, False, True]
