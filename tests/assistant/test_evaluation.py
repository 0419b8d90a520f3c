"""The eval harness's parts that need neither model nor sandbox: pass@k, datasets, settings, the run folder."""

import gzip
import json
from math import comb
from pathlib import Path

import pytest

from assistant.errors import GuidecodeError
from assistant.evaluation import EvalSettings, SettingsError, load_dataset, mean_pass_at_k, pass_at_k
from assistant.evaluation.decoding import sample_seed
from assistant.evaluation.store import RunStore
from assistant.functions import splice

TASK = {"task_id": "t/0", "prompt": "def f():\n", "test": "assert f() == 1\n", "entry_point": "f"}


def write_jsonl(path: Path, records) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


# pass@k


@pytest.mark.parametrize(
    "n, c, k, expected",
    [
        (5, 1, 1, 0.2),  # pass@1 is the pass rate
        (5, 2, 2, 1 - 3 / 10),  # 1 - C(3,2)/C(5,2)
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5)/C(10,5)
        (200, 1, 100, 0.5),  # C(199,100)/C(200,100) = 100/200
        (3, 1, 3, 1.0),  # n = k: any pass is in the one draw of all
        (3, 0, 3, 0.0),
        (10, 0, 1, 0.0),
        (10, 10, 10, 1.0),
        (10, 10, 1, 1.0),
        (10, 8, 3, 1.0),  # n - c < k
    ],
)
def test_pass_at_k_by_hand(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_the_binomial_form_where_it_is_exact():
    for n in range(1, 25):
        for c in range(n + 1):
            for k in range(1, n + 1):
                assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k), abs=1e-12)


def test_pass_at_k_stays_finite_where_binomials_overflow_floats():
    value = pass_at_k(2000, 3, 1000)
    assert 0.87 < value < 0.88  # 1 - (1000·999·998)/(2000·1999·1998)


@pytest.mark.parametrize("n, c, k", [(3, 1, 4), (3, 1, 0), (3, 4, 1), (3, -1, 1)])
def test_pass_at_k_rejects_impossible_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_tasks():
    assert mean_pass_at_k([(1, 1), (1, 0), (1, 0), (1, 1)], 1) == 0.5
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)


# datasets


def test_humaneval_ships_164_tasks():
    dataset = load_dataset("humaneval")
    assert dataset.name == "humaneval" and len(dataset.tasks) == 164
    first = dataset.tasks[0]
    assert first.task_id == "HumanEval/0" and first.entry_point == "has_close_elements" and first.canonical_solution


def test_a_jsonl_and_a_gzipped_copy_read_the_same(tmp_path):
    tasks = [TASK, {**TASK, "task_id": "t/1", "canonical_solution": "    return 1\n"}]
    plain = write_jsonl(tmp_path / "mine.jsonl", tasks)
    zipped = tmp_path / "mine.jsonl.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = load_dataset(str(plain)), load_dataset(str(zipped))
    assert a.tasks == b.tasks and a.name == b.name == "mine" and a.sha256 != b.sha256
    assert a.tasks[0].canonical_solution is None and a.tasks[1].canonical_solution == "    return 1\n"


@pytest.mark.parametrize(
    "line, message",
    [
        (json.dumps({k: v for k, v in TASK.items() if k != "entry_point"}), "line 2: missing key 'entry_point'"),
        ('{"task_id": "t/1", "prompt": ', "line 2: not valid JSON"),
        ("[1, 2]", "line 2: expected a JSON object"),
        (json.dumps({**TASK, "test": 3}), "line 2: 'test' must be a string, got int"),
        (json.dumps(TASK), "line 2: task_id 't/0' appears twice"),
    ],
)
def test_a_malformed_line_is_named_with_its_file_line_and_key(tmp_path, line, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [TASK, line])
    with pytest.raises(GuidecodeError, match=message) as error:
        load_dataset(str(path))
    assert str(path) in str(error.value)


def test_missing_empty_and_broken_files(tmp_path):
    with pytest.raises(GuidecodeError, match="dataset not found: .*nope.jsonl"):
        load_dataset(str(tmp_path / "nope.jsonl"))
    with pytest.raises(GuidecodeError, match="holds no tasks"):
        load_dataset(str(write_jsonl(tmp_path / "empty.jsonl", ["", "  "])))
    (tmp_path / "broken.jsonl.gz").write_bytes(b"not gzip")
    with pytest.raises(GuidecodeError, match="not a readable gzip file"):
        load_dataset(str(tmp_path / "broken.jsonl.gz"))


# settings


def test_deterministic_decoders_take_one_sample_and_sampling_defaults_to_ten():
    assert EvalSettings(decoder="greedy").resolved().samples == 1
    assert EvalSettings(decoder="sampling").resolved().samples == 10
    assert EvalSettings(decoder="sampling", samples=3).resolved().samples == 3
    for name in ("greedy", "beam", "canonical"):
        with pytest.raises(SettingsError, match=f"the {name} decoder is deterministic: --samples must be 1, got 5"):
            EvalSettings(decoder=name, samples=5).resolved()
    with pytest.raises(
        GuidecodeError,
        match="unknown decoder 'psychic'; choose from greedy, sampling, beam, adadec, adadec-syntactic, adadec-answer-statements, uscd, canonical",
    ):
        EvalSettings(decoder="psychic").resolved()


@pytest.mark.parametrize(
    "field, value",
    [("temperature", -0.1), ("top_p", 1.5), ("timeout_s", 0.0), ("samples", 0), ("max_tokens", 0), ("beam_width", 0), ("workers", 0)],
)
def test_bad_values_are_named(field, value):
    with pytest.raises(SettingsError, match=f"--{field.removesuffix('_s').replace('_', '-')}"):
        EvalSettings(**{field: value})


def test_only_search_takes_temperature_zero_its_rollouts_then_greedy():
    assert EvalSettings(decoder="search", temperature=0.0).resolved().temperature == 0.0
    for decoder in ("sampling", "sample-filter"):
        with pytest.raises(SettingsError, match=f"positive for {decoder} \\(0 is the greedy decoder; decoders that take 0, as greedy: search\\)"):
            EvalSettings(decoder=decoder, temperature=0.0).resolved()


def test_default_run_folders():
    dataset = load_dataset("humaneval")
    assert EvalSettings().run_dir(dataset) == Path("runs/eval/humaneval-greedy-0.5b")
    assert EvalSettings(decoder="canonical").run_dir(dataset) == Path("runs/eval/humaneval-canonical")
    assert EvalSettings(decoder="sampling", model="Qwen/Qwen2.5-Coder-1.5B").run_dir(dataset) == Path("runs/eval/humaneval-sampling-Qwen--Qwen2.5-Coder-1.5B")
    assert EvalSettings(decoder="search", rollouts=4).run_dir(dataset) == Path("runs/eval/humaneval-search-r4-0.5b")
    assert EvalSettings(decoder="sample-filter").run_dir(dataset) == Path("runs/eval/humaneval-sample-filter-r16-0.5b")


def test_recorded_settings_are_what_changes_results():
    dataset = load_dataset("humaneval")
    greedy = EvalSettings().recorded(dataset)
    assert greedy["model"] == "0.5b" and greedy["max_tokens"] == 512 and "temperature" not in greedy and "samples" not in greedy
    assert {"temperature", "top_p", "seed"} <= EvalSettings(decoder="sampling").recorded(dataset).keys()
    assert EvalSettings(decoder="beam").recorded(dataset)["beam_width"] == 4
    assert "model" not in EvalSettings(decoder="canonical").recorded(dataset)


def test_sample_seeds_are_fixed_by_seed_task_and_index():
    assert sample_seed(0, "t/0", 1) == sample_seed(0, "t/0", 1)
    seeds = {sample_seed(s, t, i) for s in (0, 1) for t in ("t/0", "t/1") for i in range(5)}
    assert len(seeds) == 20 and all(0 <= s < 2**63 for s in seeds)


def test_splice_puts_the_body_where_the_slot_was():
    from assistant.functions import find_function_slot

    prompt = 'import math\n\ndef f(x):\n    """Root."""\n\n\ndef g():\n    return 2\n'
    slot = find_function_slot(prompt, "f")
    program = splice(prompt, "    return math.sqrt(x)", slot.replaced)
    namespace: dict = {}
    exec(program, namespace)
    assert namespace["f"](9) == 3.0 and namespace["g"]() == 2


# the run folder


def test_a_new_folder_takes_the_settings_and_an_equal_run_reopens(tmp_path):
    root = tmp_path / "run"
    store = RunStore.open(root, {"decoder": "greedy", "timeout_s": 10.0})
    store.append({"task_id": "t/0", "sample": 0, "result": {"status": "passed"}})
    again = RunStore.open(root, {"decoder": "greedy", "timeout_s": 10.0})
    assert list(again.records()) == [("t/0", 0)]


def test_other_settings_in_the_folder_are_an_error_naming_them(tmp_path):
    RunStore.open(tmp_path / "run", {"decoder": "greedy", "timeout_s": 10.0})
    with pytest.raises(GuidecodeError, match=r"other settings \(timeout_s: 10.0 there, 5.0 now\); pick another --out"):
        RunStore.open(tmp_path / "run", {"decoder": "greedy", "timeout_s": 5.0})


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(GuidecodeError, match="holds no eval run"):
        RunStore.open(tmp_path, {})
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # not even a lock file left in it
    with pytest.raises(GuidecodeError, match="is a file"):
        RunStore.open(tmp_path / "notes.txt", {})


def test_a_line_cut_short_by_a_crash_is_dropped_and_appending_goes_on(tmp_path):
    store = RunStore.open(tmp_path / "run", {})
    store.append({"task_id": "t/0", "sample": 0})
    with open(tmp_path / "run" / "samples.jsonl", "a") as f:
        f.write('{"task_id": "t/1", "sam')
    assert list(store.records()) == [("t/0", 0)]
    store.append({"task_id": "t/1", "sample": 0})
    assert list(store.records()) == [("t/0", 0), ("t/1", 0)]
