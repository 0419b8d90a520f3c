"""The speed benchmark's bookkeeping: ratios, identity and the prompts it accepts (no model needed)."""

import subprocess
import sys

import pytest

from benchmarks.speed import BASELINE, Run, resolve_prompt_files, summarize


def test_summary_takes_medians_of_per_prompt_ratios_and_counts_identical_text():
    runs = [
        Run(BASELINE, "a", [1, 2, 3, 4], 1.0),
        Run(BASELINE, "b", [5, 6], 1.0),
        Run(BASELINE, "c", [7], 1.0),
        Run("fast", "a", [1, 2, 3, 4], 0.5, forward_passes=2, accepted=2),  # 2x
        Run("fast", "b", [5, 6], 0.25, forward_passes=1, accepted=1),  # 4x
        Run("fast", "c", [8], 1.0, forward_passes=1, accepted=0),  # 1x, different text
    ]
    baseline, fast = summarize(runs, [BASELINE, "fast"])
    assert baseline.ratio == 1.0 and baseline.identical == 3 and baseline.accepted_per_pass is None
    assert fast.ratio == 2.0  # median of 2, 4 and 1
    assert fast.identical == 2 and fast.prompts == 3
    assert fast.accepted_per_pass == pytest.approx(3 / 4)
    assert fast.tokens_per_second == 8.0  # median of 8, 8 and 1 tokens/s


def test_prompt_files_are_shipped_names_or_existing_paths(tmp_path):
    assert [name for name, _ in resolve_prompt_files(["humaneval", "edit"])] == ["humaneval", "edit"]
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"id": "x", "prompt": "def f():\\n"}\n')
    assert resolve_prompt_files([str(mine)]) == [("mine", mine)]
    with pytest.raises(FileNotFoundError, match="humaneval, infile, edit"):
        resolve_prompt_files([str(tmp_path / "missing.jsonl")])


def test_cli_reports_a_malformed_prompts_file_before_loading_a_model(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "bench", "speed", "--prompts", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2
    assert out.stderr.startswith("guidecode: error:") and "bad.jsonl" in out.stderr and "prompt" in out.stderr
