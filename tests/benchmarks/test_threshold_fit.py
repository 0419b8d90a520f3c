"""benchmarks/threshold_fit.py: the reference body a decoder would write, teacher forcing over it
after the eval's prompt, and how a threshold splits the positions."""

from __future__ import annotations

import numpy as np
import torch

from assistant import Assistant
from assistant.config import AssistantConfig
from assistant.evaluation.datasets import Task
from assistant.loading import LoadedModel
from benchmarks.threshold_fit import Forced, force, reference_body, split

PROMPT = 'def double(x):\n    """Double x.\n    assert double(2) == 4\n    """\n'


def test_a_whole_function_gives_its_body_indented_as_the_slot_and_a_body_stays_as_it_is():
    mbpp = "import math\ndef double(x):\n  y = x\n  if y:\n    return 2 * y\n  return 0\ndef other():\n  pass\n"
    assert reference_body(mbpp, "double", "    ") == "    y = x\n    if y:\n      return 2 * y\n    return 0"
    tabs = "def double(x):\n\tif x:\n\t\treturn 2 * x\n"
    assert reference_body(tabs, "double", "    ") == "    if x:\n        return 2 * x"
    humaneval = "    return 2 * x\n"
    assert reference_body(humaneval, "double", "    ") == humaneval
    assert reference_body("def unrelated():\n    return 1\n", "double", "    ") == "def unrelated():\n    return 1\n"


def test_teacher_forcing_scores_each_answer_token_once_and_marks_each_answers_first(tiny_model, byte_tokenizer):
    loaded = LoadedModel(tiny_model, byte_tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    assistant = Assistant(loaded, AssistantConfig(monitors=False, speculation=False))
    tasks = [Task("t/0", PROMPT, "", "double", "    return 2 * x\n"), Task("t/1", PROMPT, "", "double", None)]
    forced = force(assistant, [tasks[0], tasks[0], tasks[1]])  # the task without a reference is skipped
    answer = len(byte_tokenizer.encode("return 2 * x", add_special_tokens=False))  # bytes; the healed end adds its own
    assert len(forced.entropy) == len(forced.wrong) == len(forced.first) and len(forced.entropy) % 2 == 0
    assert len(forced.entropy) // 2 >= answer and forced.first.sum() == 2
    assert forced.first[0] and forced.first[len(forced.entropy) // 2]
    assert np.all(forced.entropy >= 0)


def test_a_threshold_splits_positions_into_its_rates():
    forced = Forced(np.array([0.5, 1.0, 2.0, 3.0], dtype=np.float32), np.array([False, True, True, False]), np.array([True, False, True, False]))
    assert split(forced, 1.5) == {"positions": 4, "wrong": 0.5, "share_above": 0.5, "wrong_above": 0.5, "wrong_below": 0.5}
    assert split(forced, 1.5, forced.first) == {"positions": 2, "wrong": 0.5, "share_above": 0.5, "wrong_above": 1.0, "wrong_below": 0.0}
    assert split(forced, 9.0)["wrong_above"] is None
