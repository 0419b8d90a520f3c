"""The eval harness end to end: the sandbox runs every candidate; resuming, extending and the CLI.
Model decoders run on the tiny random-weight model (what they write fails; the plumbing is the point)."""

import json
from pathlib import Path

import pytest
import torch

from assistant import Assistant
from assistant.cli import main
from assistant.evaluation import DECODERS, DecoderSpec, EvalSettings, run_evaluation
from assistant.evaluation.decoding import CanonicalDecoder
from assistant.loading import LoadedModel

CHECK = "def check(candidate):\n"
TASKS = [
    {"task_id": "toy/add", "prompt": 'def add(a, b):\n    """Return a + b."""\n', "canonical_solution": "    return a + b\n",
     "test": CHECK + "    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n", "entry_point": "add"},
    # the tests call a helper the prompt defines, as HumanEval's do
    {"task_id": "toy/twice", "prompt": 'def once(x):\n    return x\n\n\ndef twice(x):\n    """Return 2 * x."""\n',
     "canonical_solution": "    return once(x) + once(x)\n", "test": CHECK + "    assert candidate(4) == once(8)\n", "entry_point": "twice"},
    {"task_id": "toy/wrong", "prompt": 'def reverse(s):\n    """Return s reversed."""\n', "canonical_solution": "    return s\n",
     "test": CHECK + "    assert candidate('ab') == 'ba'\n", "entry_point": "reverse"},
    {"task_id": "toy/even", "prompt": 'def even(n):\n    """Whether n is even."""\n', "canonical_solution": "    return n % 2 == 0\n",
     "test": CHECK + "    assert candidate(2)\n    assert not candidate(3)\n", "entry_point": "even"},
]  # fmt: skip


@pytest.fixture
def dataset(tmp_path) -> Path:
    path = tmp_path / "toy.jsonl"
    path.write_text("".join(json.dumps(t) + "\n" for t in TASKS))
    return path


def run_cli(capsys, *argv):
    code = main(["eval", *map(str, argv)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(err: str) -> str:
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, err
    return lines[0]


def saved(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "samples.jsonl").read_text().splitlines()]


class CountingSandbox:
    """The real sandbox, counting the programs it is given."""

    def __init__(self):
        from sandbox import Limits, Sandbox

        self.inner = Sandbox(Limits(timeout_s=10.0))
        self.mode = self.inner.mode
        self.programs: list[str] = []

    def run(self, program, tests=None, entry_point=None):
        self.programs.append(program)
        return self.inner.run(program, tests, entry_point)


def test_cli_canonical_json_end_to_end(capsys, dataset, tmp_path):
    code, out, err = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--json", "--out", tmp_path / "run")
    assert code == 0, err
    result = json.loads(out)
    assert result["dataset"] == "toy" and result["decoder"] == "canonical" and result["model"] is None
    assert result["n_tasks"] == 4 and result["pass@1"] == 0.75 and result["tokens"] == 0 and "pass@10" not in result
    records = {r["task_id"]: r for r in saved(tmp_path / "run")}
    assert records["toy/wrong"]["result"]["status"] == "failed" and records["toy/add"]["result"]["status"] == "passed"
    assert records["toy/add"]["program"] == TASKS[0]["prompt"] + TASKS[0]["canonical_solution"]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["tasks"]["toy/wrong"] == {"samples": 1, "passed": 0} and summary["statuses"] == {"passed": 3, "failed": 1}
    assert summary["sandbox"] and "sandbox: " in err


def test_cli_prints_a_table_without_json(capsys, dataset, tmp_path):
    code, out, _ = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--out", tmp_path / "run")
    assert code == 0 and "pass@1" in out and "75.00%" in out and "3 passed" in out


def test_an_interrupted_run_resumes_without_redoing_saved_samples(monkeypatch, dataset, tmp_path):
    calls = []

    class Interrupting(CanonicalDecoder):
        def solve(self, task, sample):
            calls.append(task.task_id)
            if len(calls) == 3 and interrupt:
                raise KeyboardInterrupt
            return super().solve(task, sample)

    interrupt = True
    monkeypatch.setitem(DECODERS, "interrupting", DecoderSpec("interrupting", lambda s, p: Interrupting(), (), "test", loads_model=False))
    settings = EvalSettings(dataset=str(dataset), decoder="interrupting", out=tmp_path / "run")
    with pytest.raises(KeyboardInterrupt):
        run_evaluation(settings, executor=CountingSandbox())
    first = [r["task_id"] for r in saved(tmp_path / "run")]
    assert first and set(first) <= {"toy/add", "toy/twice"}  # what ran before the interrupt is kept
    interrupt, sandbox = False, CountingSandbox()
    summary = run_evaluation(settings, executor=sandbox)
    assert len(sandbox.programs) == 4 - len(first) and summary["resumed"] == len(first) and summary["new"] == 4 - len(first)
    assert summary["pass@1"] == 0.75 and sorted(r["task_id"] for r in saved(tmp_path / "run")) == sorted(t["task_id"] for t in TASKS)
    sandbox = CountingSandbox()
    again = run_evaluation(settings, executor=sandbox)  # complete: nothing left to do
    assert sandbox.programs == [] and again["resumed"] == 4 and again["pass@1"] == 0.75


def test_a_run_with_nothing_left_to_do_is_summarized_without_building_the_decoder(monkeypatch, dataset, tmp_path):
    built = []

    class Described(CanonicalDecoder):
        def describe(self):
            return {"model": "toy-model", "dtype": "float32", "device": "cpu", "speculation": "off"}

    def build(settings, progress):
        built.append(settings.limit)
        return Described()

    monkeypatch.setitem(DECODERS, "described", DecoderSpec("described", build, (), "test", loads_model=False))
    settings = EvalSettings(dataset=str(dataset), decoder="described", out=tmp_path / "run", limit=2)
    first = run_evaluation(settings)
    assert built == [2] and first["done"] == 2
    lines = []
    again = run_evaluation(settings, say=lines.append)  # every sample asked for is saved: no decoder
    assert built == [2] and again["done"] == 2 and again["model"] == "toy-model"
    assert any("with no model loaded" in line for line in lines)
    whole = EvalSettings(dataset=str(dataset), decoder="described", out=tmp_path / "run")
    sandbox = CountingSandbox()
    summary = run_evaluation(whole, executor=sandbox)
    assert built == [2, None] and len(sandbox.programs) == 2 and summary["pass@1"] == 0.75 and summary["model"] == "toy-model"
    (tmp_path / "run" / "decoder.json").unlink()  # a run folder from before decoder.json: the decoder says it
    assert run_evaluation(whole)["model"] == "toy-model" and built == [2, None, None]


def test_a_decoder_writing_samples_together_gets_each_tasks_missing_ones_at_once(monkeypatch, dataset, tmp_path):
    batches = []

    class Together(CanonicalDecoder):
        def solve(self, task, sample):
            raise AssertionError("solve_many is there: solve must not be called")

        def solve_many(self, task, samples):
            batches.append((task.task_id, samples))
            return [super(Together, self).solve(task, s) for s in samples]

    spec = DecoderSpec("together", lambda s, p: Together(), (), "test", deterministic=False, loads_model=False)
    monkeypatch.setitem(DECODERS, "together", spec)
    settings = EvalSettings(dataset=str(dataset), decoder="together", samples=3, limit=2, out=tmp_path / "run")
    run_evaluation(settings, executor=CountingSandbox())
    assert batches == [("toy/add", [0, 1, 2]), ("toy/twice", [0, 1, 2])]
    lines = (tmp_path / "run" / "samples.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["sample"] != 1]  # as if sample 1 of each was lost
    (tmp_path / "run" / "samples.jsonl").write_text("".join(line + "\n" for line in kept))
    batches.clear()
    summary = run_evaluation(settings, executor=CountingSandbox())
    assert batches == [("toy/add", [1]), ("toy/twice", [1])] and summary["resumed"] == 4 and summary["pass@1"] == 1.0


def test_a_limited_run_extends_to_more_tasks(capsys, dataset, tmp_path):
    code, out, _ = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--json", "--limit", 2, "--out", tmp_path / "run")
    assert code == 0 and json.loads(out)["n_tasks"] == 2 and json.loads(out)["pass@1"] == 1.0
    code, out, _ = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--json", "--out", tmp_path / "run")
    assert code == 0 and json.loads(out)["pass@1"] == 0.75
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["resumed"] == 2


def test_cli_refuses_a_folder_holding_other_settings(capsys, dataset, tmp_path):
    assert run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--out", tmp_path / "run")[0] == 0
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--timeout", 3, "--out", tmp_path / "run")
    line = one_line_error(err)
    assert code == 1 and "timeout_s: 10.0 there, 3.0 now" in line and "pick another --out" in line
    dataset.write_text(dataset.read_text().replace("a + b", "b + a"))  # the same file name, other tasks
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", "canonical", "--out", tmp_path / "run")
    assert code == 1 and "dataset_sha256" in one_line_error(err)


def test_cli_usage_errors(capsys, dataset, tmp_path):
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", "greedy", "--samples", 3)
    assert code == 2 and "deterministic: --samples must be 1, got 3" in one_line_error(err)
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", "psychic")
    assert code == 2 and "invalid choice: 'psychic'" in one_line_error(err)
    code, _, err = run_cli(capsys, "--dataset", tmp_path / "nope.jsonl")
    assert code == 1 and "dataset not found" in one_line_error(err)
    code, _, err = run_cli(capsys, "--dataset", dataset, "--workers", 2)
    assert code == 2 and "--workers and --worker-threads go with --ray" in one_line_error(err)


def test_dataset_errors_come_before_any_model_loads(capsys, dataset, tmp_path, monkeypatch):
    monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, *a, **k: pytest.fail("the model loaded")))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**TASKS[0], "entry_point": "sub"}) + "\n")
    code, _, err = run_cli(capsys, "--dataset", bad, "--out", tmp_path / "a")
    assert code == 1 and "task toy/add: no function named 'sub'" in one_line_error(err)
    bad.write_text(json.dumps({**TASKS[0], "test": "def check(:\n"}) + "\n")
    code, _, err = run_cli(capsys, "--dataset", bad, "--out", tmp_path / "b")
    assert code == 1 and "task toy/add: its tests do not parse" in one_line_error(err)
    bad.write_text(json.dumps({k: v for k, v in TASKS[0].items() if k != "canonical_solution"}) + "\n")
    code, _, err = run_cli(capsys, "--dataset", bad, "--decoder", "canonical", "--out", tmp_path / "c")
    assert code == 1 and "task toy/add has none" in one_line_error(err)


@pytest.fixture
def tiny_assistants(monkeypatch, tiny_model, byte_tokenizer):
    """Assistant.load gives the tiny model; the configs it was asked for are kept."""
    configs = []
    loaded = LoadedModel(tiny_model, byte_tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)

    def load(cls, config, progress=None):
        configs.append(config)
        return cls(loaded, config)

    monkeypatch.setattr(Assistant, "load", classmethod(load))
    return configs


def test_greedy_and_beam_write_bodies_into_the_prompt(capsys, dataset, tmp_path, tiny_assistants):
    for decoder in ("greedy", "beam"):
        out_dir = tmp_path / decoder
        code, out, err = run_cli(capsys, "--dataset", dataset, "--decoder", decoder, "--max-tokens", 8, "--beam-width", 2, "--json", "--out", out_dir)
        assert code == 0, err
        result = json.loads(out)
        assert result["model"] == "tiny" and result["n_tasks"] == 4 and 0 < result["tokens"] <= 32
        for task, record in zip(TASKS, sorted(saved(out_dir), key=lambda r: [t["task_id"] for t in TASKS].index(r["task_id"]))):
            assert record["program"].startswith(task["prompt"]) and record["completion"] in record["program"]
            assert record["seed"] is None and record["stop_reason"] and "status" in record["result"]
    greedy, beam = tiny_assistants
    assert (greedy.temperature, greedy.beam_width, greedy.monitors.enabled) == (0.0, 1, ())
    assert beam.beam_width == 2 and beam.max_new_tokens == 8


def test_sampling_is_reproducible_whatever_the_order(capsys, dataset, tmp_path, tiny_assistants):
    args = ["--dataset", dataset, "--decoder", "sampling", "--samples", 3, "--max-tokens", 6, "--json"]
    assert run_cli(capsys, *args, "--out", tmp_path / "whole")[0] == 0
    assert run_cli(capsys, *args, "--limit", 1, "--out", tmp_path / "parts")[0] == 0
    code, out, _ = run_cli(capsys, *args, "--out", tmp_path / "parts")  # extended to all tasks
    assert code == 0 and {"pass@1"} <= json.loads(out).keys() and "pass@10" not in json.loads(out)
    key = lambda r: (r["task_id"], r["sample"])  # noqa: E731
    whole = {key(r): (r["completion"], r["seed"]) for r in saved(tmp_path / "whole")}
    parts = {key(r): (r["completion"], r["seed"]) for r in saved(tmp_path / "parts")}
    assert whole == parts and len(whole) == 12
    assert len({seed for _, seed in whole.values()}) == 12
    assert tiny_assistants[0].temperature == 0.8 and tiny_assistants[0].top_p == 0.95


def test_humaneval_canonical_solutions_all_pass(capsys, tmp_path):
    """The harness and the sandbox together reproduce HumanEval's own solutions: 164 of 164."""
    code, out, _ = run_cli(capsys, "--dataset", "humaneval", "--decoder", "canonical", "--out", tmp_path / "run", "--json")
    result = json.loads(out)
    assert code == 0 and result["n_tasks"] == 164 and result["pass@1"] == 1.0, result
    records = [json.loads(line) for line in (tmp_path / "run" / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 164 and all(r["result"]["status"] == "passed" for r in records)
    assert sum(len(r["result"]["tests"]) for r in records) > 164  # asserts counted one by one


def test_a_sandbox_failure_stops_the_run_and_is_not_saved(dataset, tmp_path):
    from assistant.errors import GuidecodeError
    from sandbox import SandboxError

    class Broken(CountingSandbox):
        def run(self, program, tests=None, entry_point=None):
            raise SandboxError("the sandbox could not start its runner (bubblewrap): bwrap: setting up uid map: Permission denied")

    settings = EvalSettings(dataset=str(dataset), decoder="canonical", out=tmp_path / "run")
    with pytest.raises(GuidecodeError, match="could not start its runner.*not saved"):
        run_evaluation(settings, executor=Broken())
    samples = tmp_path / "run" / "samples.jsonl"
    assert not samples.exists() or samples.read_text() == ""


def test_adadec_decoders_rerank_and_report_the_paused_share(capsys, dataset, tmp_path, tiny_assistants):
    for decoder in ("adadec", "adadec-syntactic"):
        args = ["--dataset", dataset, "--decoder", decoder, "--max-tokens", 8, "--threshold", 0.0, "--json", "--out", tmp_path / decoder]
        code, out, err = run_cli(capsys, *args)
        assert code == 0, err
        result = json.loads(out)
        # Threshold 0: every step with a choice looks ahead (a step the guides force has entropy 0).
        assert 0.5 < result["paused_share"] <= 1.0
        records = saved(tmp_path / decoder)
        assert all(0 < r["paused"] <= r["steps"] for r in records)
    # Pausing only where a statement begins: the answer's first step is one, most steps are not.
    args = [
        "--dataset",
        dataset,
        "--decoder",
        "adadec-answer-statements",
        "--max-tokens",
        8,
        "--threshold",
        0.0,
        "--scoring",
        "sum",
        "--json",
        "--out",
        tmp_path / "s",
    ]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert all(1 <= r["paused"] < r["steps"] for r in saved(tmp_path / "s"))
    adadec, syntactic, statements = tiny_assistants
    assert (adadec.rerank.enabled, adadec.rerank.threshold, adadec.rerank.top_k, adadec.rerank.lookahead, adadec.rerank.syntactic) == (True, 0.0, 3, 5, False)
    assert (syntactic.rerank.lookahead, syntactic.rerank.syntactic) == (16, True)
    assert (statements.rerank.to_answer_end, statements.rerank.pause_at, statements.rerank.scoring) == (True, "statements", "sum")


def test_adadec_without_a_learned_threshold_says_how_to_get_one(capsys, dataset, tmp_path, tiny_assistants):
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", "adadec", "--out", tmp_path / "a")
    assert code == 1 and "guidecode calibrate" in err


def test_uscd_contrasts_at_uncertain_steps(capsys, dataset, tmp_path, tiny_assistants):
    args = ["--dataset", dataset, "--decoder", "uscd", "--max-tokens", 8, "--threshold", 0.0, "--alpha", 1.0, "--json", "--out", tmp_path / "u"]
    code, out, err = run_cli(capsys, *args)
    assert code == 0, err
    assert 0.5 < json.loads(out)["paused_share"] <= 1.0
    (config,) = tiny_assistants
    assert (config.rerank.method, config.rerank.alpha, config.rerank.threshold) == ("uscd", 1.0, 0.0)


def test_search_and_sample_filter_spend_their_rollouts_on_the_public_examples(capsys, tmp_path, tiny_assistants):
    task = {
        "task_id": "toy/inc",
        "prompt": 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    >>> inc(-1)\n    0\n    """\n',
        "test": CHECK + "    assert candidate(5) == 6\n",
        "entry_point": "inc",
    }
    plain = {**TASKS[0], "task_id": "toy/plain"}  # no example in its docstring: nothing to search against
    dataset = tmp_path / "examples.jsonl"
    dataset.write_text(json.dumps(task) + "\n" + json.dumps(plain) + "\n")
    for decoder in ("search", "sample-filter"):
        code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", decoder, "--rollouts", 3, "--max-tokens", 6, "--out", tmp_path / decoder)
        assert code == 0, err
        records = {r["task_id"]: r for r in saved(tmp_path / decoder)}
        # The random-weight model never writes inc: every rollout of the budget is spent on it.
        assert records["toy/inc"]["public"] == [0, 2] and records["toy/inc"]["rollouts"] == 3
        assert records["toy/inc"]["tokens"] > 6  # what all 3 programs cost, not the answer's length (at most 6)
        assert records["toy/inc"]["program"].startswith(task["prompt"]) and records["toy/inc"]["result"]["status"] != "passed"
        assert records["toy/plain"]["public"] in (None, [0, 0])
        assert records["toy/inc"]["public_rerun"] == (0 if decoder == "search" else None)
        summary = json.loads((tmp_path / decoder / "summary.json").read_text())
        assert (summary["with_public_tests"], summary["public_solved"], summary["rerun_disagreements"]) == (1, 0, 0)
        assert summary["rollouts"] == 3 + 1  # the plain task: greedy's program, or the first sample
    greedy = tiny_assistants[0]
    assert greedy.temperature == 0.0 and tiny_assistants[1].temperature == 0.8


@pytest.mark.parametrize("decoder", ["greedy", "sampling"])
def test_every_task_is_prefilled_from_scratch(monkeypatch, capsys, dataset, tmp_path, tiny_assistants, decoder):
    # Keys and values reused from the previous task's prompt can differ in the last bits from a
    # whole prefill's: a task's answer must not depend on which task its process ran before it.
    from decoders import Engine

    reused: list[int] = []
    prefill = Engine.prefill

    def spy(self, prompt, *args, **kwargs):
        session = prefill(self, prompt, *args, **kwargs)
        reused.append(session.reused if session is not None else 0)
        return session

    monkeypatch.setattr(Engine, "prefill", spy)
    samples = 2 if decoder == "sampling" else 1
    code, _, err = run_cli(capsys, "--dataset", dataset, "--decoder", decoder, "--samples", samples, "--max-tokens", 4, "--out", tmp_path / "run")
    assert code == 0, err
    assert len(reused) >= len(TASKS) and not any(reused)
