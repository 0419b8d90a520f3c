"""`guidecode eval` with the real embedded 0.5B model on the first HumanEval task."""

import json

import pytest

from assistant.cli import main
from assistant.evaluation.datasets import load_dataset

pytestmark = pytest.mark.real_model


def test_greedy_on_humaneval_writes_runs_and_saves_a_body(capsys, tmp_path):
    code = main(["eval", "--dataset", "humaneval", "--decoder", "greedy", "--limit", "1", "--max-tokens", "64", "--json", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["model"] == "Qwen2.5-Coder-0.5B-Instruct" and result["n_tasks"] == 1 and result["pass@1"] in (0.0, 1.0)
    assert 0 < result["tokens"] <= 64 and result["seconds"] > 0
    (record,) = [json.loads(line) for line in (tmp_path / "samples.jsonl").read_text().splitlines()]
    task = load_dataset("humaneval").tasks[0]
    assert record["completion"].strip() and record["program"].startswith(task.prompt.rstrip("\n") + "\n" + record["completion"])
    assert record["result"]["status"] in ("passed", "failed", "error")
    assert "model: Qwen2.5-Coder-0.5B-Instruct" in captured.err
