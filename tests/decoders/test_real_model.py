"""The engine against transformers on the real embedded model, in the default dtype."""

import pytest
import torch

from decoders import Engine, SamplingConfig, StopRules, generate

PROMPTS = [
    "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci number.\"\"\"\n",
    "<|fim_prefix|>import json\n\ndef load(path):\n    with open(path) as f:\n        <|fim_suffix|>\n<|fim_middle|>",
    "class Stack:\n    def __init__(self):\n",
]


@pytest.mark.real_model
@pytest.mark.parametrize("prompt", PROMPTS)
def test_greedy_equals_transformers_generate(real_model, prompt):
    model, tokenizer = real_model.model, real_model.tokenizer
    ids = tokenizer(prompt)["input_ids"]
    expected = model.generate(
        torch.tensor([ids], device=real_model.device),
        attention_mask=torch.ones(1, len(ids), dtype=torch.long, device=real_model.device),
        max_new_tokens=32,
        do_sample=False,
        eos_token_id=None,
        pad_token_id=tokenizer.pad_token_id,
    )[0, len(ids) :].tolist()
    engine = Engine(model)
    result = generate(engine, engine.prefill(ids), tokenizer, SamplingConfig(), StopRules(max_new_tokens=32))
    assert result.tokens == expected
