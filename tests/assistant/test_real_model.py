"""End-to-end paths on the real embedded 0.5B model."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from assistant import Assistant, AssistantConfig
from assistant.config import RerankConfig
from assistant.prompts import PromptBuilder

pytestmark = pytest.mark.real_model
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shapes.py"


@pytest.fixture(scope="module")
def assistant(real_model):
    return Assistant(real_model, AssistantConfig())


def test_qwen_gets_its_fim_format_and_text_cannot_inject_markers(real_model):
    builder = PromptBuilder.for_tokenizer(real_model.tokenizer)
    assert builder.family == "qwen"
    ids = builder.encode("x = '<|fim_suffix|>'")
    assert real_model.tokenizer.convert_tokens_to_ids("<|fim_suffix|>") not in ids


def test_block_completion_writes_the_body_and_stops_at_the_scope(assistant):
    text = EXAMPLE.read_text()
    cursor = (12, 8)  # line 13, column 9: the empty body of Circle.area
    chunks = []
    completion = assistant.complete(text, cursor, on_text=chunks.append)
    assert completion.scope == "block" and completion.stop_reason in ("stop", "eos")
    assert "self.radius" in completion.text
    assert "def perimeter" not in completion.text  # never repeats what follows the cursor
    assert "".join(chunks).rstrip() == completion.text


def test_line_completion_finishes_the_line_only(assistant):
    text = "def mean(xs):\n    total = sum(xs)\n    return total / \n"
    completion = assistant.complete(text, (2, 19))
    assert completion.scope == "line" and "\n" not in completion.text and completion.text.strip()


def test_generate_function_writes_a_working_body(assistant):
    source = 'def clamp(x: int, low: int, high: int) -> int:\n    """Return x limited to the range [low, high]."""\n'
    generated = assistant.generate_function(source)
    namespace: dict = {}
    exec(generated.function, namespace)  # the model's code: a plain function of ints
    assert namespace["clamp"](5, 0, 3) == 3 and namespace["clamp"](-1, 0, 3) == 0 and namespace["clamp"](2, 0, 3) == 2


def test_cli_complete_json_on_a_file_outside_the_repository(tmp_path):
    path = tmp_path / "stack.py"
    path.write_text("class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n        \n")
    out = subprocess.run(
        [sys.executable, "-m", "assistant.cli", "complete", f"{path}:6:9", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    result = json.loads(out.stdout)
    assert set(result) == {
        "completion",
        "model",
        "tokens",
        "seconds",
        "tokens_per_second",
        "forward_passes",
        "accepted_draft_tokens",
        "monitored",
        "monitor_queries",
        "monitor_rejections",
        "decided_steps",
        "paused_steps",
    }
    assert result["monitored"]  # no project marker above it: the file's own folder is the workspace
    assert "self.items" in result["completion"] and result["model"] == "Qwen2.5-Coder-0.5B-Instruct"
    assert path.read_text().endswith("        \n")  # the user's file is not changed


def test_speculation_changes_nothing_but_the_number_of_forward_passes(exact_real_model):
    plain = Assistant(exact_real_model, AssistantConfig(speculation=False))
    fast = Assistant(exact_real_model, AssistantConfig(speculation=True))
    assert fast.speculating and not plain.speculating
    text = EXAMPLE.read_text()
    passes = tokens = 0
    for cursor in [(12, 8), (12, 4), (len(text.splitlines()) - 1, 0)]:
        a, b = plain.complete(text, cursor), fast.complete(text, cursor)
        assert (b.text, b.tokens, b.stop_reason) == (a.text, a.tokens, a.stop_reason), cursor
        passes, tokens = passes + b.forward_passes, tokens + b.tokens
    assert passes < tokens  # drafts were accepted: fewer forward passes than tokens


def test_beam_search_completes_the_block_and_stops_at_its_end(real_model):
    beams = Assistant(real_model, AssistantConfig(beam_width=2, max_new_tokens=32))
    chunks = []
    completion = beams.complete(EXAMPLE.read_text(), (12, 8), on_text=chunks.append)
    assert completion.scope == "block" and completion.stop_reason in ("stop", "eos")
    assert "self.radius" in completion.text and "def perimeter" not in completion.text
    assert len(chunks) == 1 and chunks[0].rstrip() == completion.text


RERANKS = {
    "adadec": RerankConfig(True, "adadec", threshold=0.3, syntactic=True),
    "adadec-answer-statements": RerankConfig(True, "adadec", threshold=0.3, scoring="sum", to_answer_end=True, pause_at="statements"),
    "uscd": RerankConfig(True, "uscd", threshold=0.3),
}


@pytest.mark.parametrize("method", RERANKS)
def test_rerankers_with_speculation_equal_them_without(exact_real_model, method):
    """Every guide on (healing; monitors need a workspace): the reranked completion is the same
    token for token with and without speculation underneath, and some steps did pause."""
    rerank = RERANKS[method]
    plain = Assistant(exact_real_model, AssistantConfig(rerank=rerank, speculation=False, max_new_tokens=40))
    fast = Assistant(exact_real_model, AssistantConfig(rerank=rerank, max_new_tokens=40))
    assert fast.speculating
    prompt = 'def count_vowels(s: str) -> int:\n    """Count the vowels of s.\n    >>> count_vowels("banana")\n    3\n    """\n'
    a, b = plain.generate_function(prompt), fast.generate_function(prompt)
    assert (a.body, a.completion.tokens) == (b.body, b.completion.tokens)
    assert 0 < b.completion.paused_steps < b.completion.decided_steps


def test_sample_filter_keeps_the_first_sample_that_passes_and_draws_no_further_batch(real_model, monkeypatch):
    """Drawing in batches and stopping at the first batch holding a passing program chooses what
    drawing the whole budget at once and taking the first that passes would."""
    from assistant.evaluation import EvalSettings
    from assistant.evaluation.datasets import Task
    from assistant.evaluation.decoding import sample_seed
    from assistant.evaluation.guided import SAMPLE_BATCH, SampleFilterDecoder
    from assistant.progress import Progress
    from assistant.search import TestSuite
    from sandbox import Limits, Outcome, Sandbox

    monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, config, progress=None: cls(real_model, config)))
    prompt = 'def count_vowels(s):\n    """Count the vowels of s.\n    >>> count_vowels("abcde")\n    2\n    >>> count_vowels("ACEDY")\n    2\n    """\n'
    task = Task("toy/vowels", prompt, "def check(candidate):\n    pass\n", "count_vowels")
    settings = EvalSettings(decoder="sample-filter", rollouts=2 * SAMPLE_BATCH, max_tokens=64)
    decoder = SampleFilterDecoder(settings, Progress.silent())
    chosen = decoder.solve(task, 0)

    seeds = [sample_seed(settings.seed, task.task_id, i) for i in range(settings.rollouts)]
    drawn = decoder.assistant.sample_function(prompt, seeds, name="count_vowels", max_new_tokens=64)
    tests = TestSuite.build(prompt, "count_vowels")
    sandbox = Sandbox(Limits(timeout_s=10.0))
    passed = [sum(t.outcome == Outcome.PASSED for t in sandbox.run(prompt + g.body, tests.source).tests) for g in drawn]
    first = max(range(len(drawn)), key=lambda i: (passed[i], -i))
    assert chosen.seed == seeds[first] and chosen.completion == drawn[first].body
    assert chosen.public == (passed[first], 2)
    batches = first // SAMPLE_BATCH + 1 if passed[first] == 2 else 2
    assert chosen.rollouts == batches * SAMPLE_BATCH
