"""`guidecode compare`: runs side by side on the tasks all of them finished, as ratios to the first."""

import json

from assistant.cli import main
from assistant.evaluation.compare import compare


def record(task, passed, seconds, completion="x", sample=0, tokens=10, steps=0, paused=0):
    return {
        "task_id": task,
        "sample": sample,
        "completion": completion,
        "tokens": tokens,
        "seconds": seconds,
        "steps": steps,
        "paused": paused,
        "result": {"status": "passed" if passed else "failed"},
    }


def make_run(root, name, decoder, records, finished=True):
    folder = root / name
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"decoder": decoder, "model": "0.5b"}))
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    if finished:
        (folder / "summary.json").write_text(json.dumps({"n_tasks": len({r["task_id"] for r in records})}))
    return folder


def test_runs_compare_on_the_tasks_all_finished(tmp_path):
    greedy = make_run(tmp_path, "greedy", "greedy", [record("t1", True, 1.0), record("t2", False, 2.0), record("t3", False, 3.0)])
    adadec = make_run(
        tmp_path, "adadec", "adadec", [record("t1", True, 2.0, steps=10, paused=1), record("t2", True, 2.0, "y", steps=10, paused=1)], finished=False
    )
    result = compare([greedy, adadec])
    assert result.tasks == 2 and result.partial == (str(adadec),)
    base, other = result.rows
    assert (base.pass_at_1, base.seconds, base.pass_ratio, base.time_ratio) == (0.5, 3.0, 1.0, 1.0)
    assert (other.pass_at_1, other.passed, other.seconds, other.pass_ratio, other.time_ratio) == (1.0, 2, 4.0, 2.0, 1.333)
    assert (other.paused_share, other.differ) == (0.1, 1)


def test_sampled_runs_count_the_share_of_samples_passing(tmp_path):
    sampled = make_run(tmp_path, "s", "sampling", [record("t1", True, 1, sample=0), record("t1", False, 1, sample=1)])
    assert compare([sampled]).rows[0].pass_at_1 == 0.5


def test_what_cannot_be_compared_says_why(tmp_path, capsys):
    a = make_run(tmp_path, "a", "greedy", [record("t1", True, 1.0)])
    b = make_run(tmp_path, "b", "greedy", [record("t2", True, 1.0)])
    assert main(["compare", str(a), str(b)]) == 1 and "share no finished task" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nope")]) == 1 and "not an eval run folder" in capsys.readouterr().err
    assert main(["compare", str(a), "--markdown"]) == 0 and "| a | 100.0% | 1/1 |" in capsys.readouterr().out


def test_the_pass_ratio_is_rounded_once_from_the_counts(tmp_path):
    # 138 of 218 against 132 of 218 is 1.0455x; rounding the rates and then the ratio read 1.04x.
    runs = [make_run(tmp_path, name, name, [record(f"t{i}", i < passed, 1.0) for i in range(218)]) for name, passed in (("greedy", 132), ("adadec", 138))]
    other = compare(runs).rows[1]
    assert other.pass_ratio == 1.0455 and f"{other.pass_ratio:.2f}x" == "1.05x"
