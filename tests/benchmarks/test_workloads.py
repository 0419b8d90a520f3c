"""Workload files: every malformed line is refused with its file and line; the shipped ones load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.workloads import SHIPPED, Prompt, load_prompts

GOOD = {"id": "a", "prompt": "def f(x):\n", "max_new_tokens": 8}


def write(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "w.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_loads_records_and_optional_limit(tmp_path):
    path = write(tmp_path, json.dumps(GOOD), "", json.dumps({"id": "b", "prompt": "x", "source": "extra keys are kept out"}))
    assert load_prompts(path) == [Prompt("a", "def f(x):\n", 8), Prompt("b", "x", None)]


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"prompt": "x"}), "'id' missing"),
        (json.dumps({"id": "", "prompt": "x"}), "'id' must be a non-empty string"),
        (json.dumps({"id": 3, "prompt": "x"}), "'id' must be a non-empty string"),
        (json.dumps({"id": "b"}), "'prompt' missing"),
        (json.dumps({"id": "b", "prompt": ""}), "'prompt' must be a non-empty string"),
        (json.dumps({"id": "b", "prompt": "x", "max_new_tokens": 0}), "positive integer"),
        (json.dumps({"id": "b", "prompt": "x", "max_new_tokens": -5}), "positive integer"),
        (json.dumps({"id": "b", "prompt": "x", "max_new_tokens": 1.5}), "positive integer"),
        (json.dumps({"id": "b", "prompt": "x", "max_new_tokens": "8"}), "positive integer"),
        (json.dumps({"id": "b", "prompt": "x", "max_new_tokens": True}), "positive integer"),
    ],
)
def test_bad_line_names_file_line_and_problem(tmp_path, line, message):
    path = write(tmp_path, json.dumps(GOOD), line)
    with pytest.raises(ValueError) as error:
        load_prompts(path)
    assert str(error.value).startswith(f"{path}:2: ")
    assert message in str(error.value)


def test_duplicate_id_names_both_lines(tmp_path):
    path = write(tmp_path, json.dumps(GOOD), json.dumps(GOOD))
    with pytest.raises(ValueError, match=r"w\.jsonl:2: duplicate id 'a' \(first on line 1\)"):
        load_prompts(path)


def test_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_prompts(tmp_path / "absent.jsonl")


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_workload_loads(name):
    prompts = load_prompts(SHIPPED[name])
    assert len(prompts) == 12
    assert all(p.max_new_tokens == (160 if name == "edit" else 96) for p in prompts)


def test_edit_prompts_end_where_the_answer_starts():
    # Built with the chat template and add_generation_prompt=True: the model writes the reply next.
    for p in load_prompts(SHIPPED["edit"]):
        assert p.prompt.startswith("<|im_start|>system\n")
        assert p.prompt.endswith("```<|im_end|>\n<|im_start|>assistant\n")


def test_shipped_records_name_a_permissive_source():
    for path in SHIPPED.values():
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            assert record["source"]
            assert any(word in record["licence"] for word in ("MIT", "BSD", "Apache"))
