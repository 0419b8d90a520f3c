"""The engine against transformers on the real embedded model, in the default dtype."""

import pytest
import torch

from decoders import Engine, Plugins, StopRules, generate

PROMPTS = [
    'def fibonacci(n):\n    """Return the n-th Fibonacci number."""\n',
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
    result = generate(engine, engine.prefill(ids), tokenizer, Plugins(stop=StopRules(max_new_tokens=32)))
    assert result.tokens == expected


def _speculative_drafters(model):
    from decoders.drafters import AdaptiveDrafter, NgramDrafter, TokenRecycling, UnionDrafter

    vocab = model.config.vocab_size
    return {
        "ngram": NgramDrafter(min_ngram=1),
        "recycling": TokenRecycling(vocab),
        "adaptive union": AdaptiveDrafter(UnionDrafter((NgramDrafter(), TokenRecycling(vocab))), probe_every=3),
    }


@pytest.mark.real_model
def test_the_real_models_forward_passes_are_batch_invariant(exact_real_model):
    assert Engine(exact_real_model.model).exact


@pytest.mark.real_model
@pytest.mark.parametrize("guided", [False, True])
def test_greedy_speculation_equals_plain_greedy_on_the_real_model(exact_real_model, guided):
    from decoders import TokenSetGuide

    model, tokenizer = exact_real_model.model, exact_real_model.tokenizer
    engine = Engine(model)
    # A guide that changes the output: no token containing "return" or digits.
    guide = None
    if guided:
        banned = {
            i for i, text in enumerate(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))) if "return" in text or any(c.isdigit() for c in text)
        }
        guide = TokenSetGuide.of(model.config.vocab_size, [i for i in range(len(tokenizer)) if i not in banned])
    stop = StopRules(max_new_tokens=40, eos_token_ids=frozenset({tokenizer.eos_token_id}))
    drafters = _speculative_drafters(model)
    if guided:  # the guide's path through the verifier is the same for every drafter: one suffices here
        drafters = {"adaptive union": drafters["adaptive union"]}
    for prompt in PROMPTS[:2]:
        ids = tokenizer(prompt)["input_ids"]
        plain = generate(engine, engine.prefill(ids), tokenizer, Plugins(stop=stop, guide=guide))
        for name, drafter in drafters.items():
            fast = generate(engine, engine.prefill(ids), tokenizer, Plugins(stop=stop, guide=guide, drafter=drafter))
            assert fast.tokens == plain.tokens, (name, prompt)


# Run in a fresh process: which count a pool thread keeps depends on what the process ran first.
_PREFILL_BY_THREADS = """
import sys, torch
from assistant.loading import load_model
from decoders import Engine
loaded = load_model("0.5b", dtype=sys.argv[1], weights=sys.argv[2])
engine = Engine(loaded.model)
ids = loaded.tokenizer(sys.argv[3])["input_ids"]
assert len(ids) > 64, len(ids)  # a prompt-size pass, not a decoding-size one
sessions = []
for threads in (2, 1, 2, 1):
    torch.set_num_threads(threads)
    sessions.append(engine.prefill(ids))
first = sessions[0]
same = [torch.equal(s.next_logits, first.next_logits) and all(
    torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values) for a, b in zip(s.cache.layers, first.cache.layers)) for s in sessions]
print("same:", same)
"""


@pytest.mark.real_model
@pytest.mark.parametrize(("dtype", "weights"), [("auto", "auto"), ("float32", "dense")])
def test_a_prompt_prefilled_with_one_thread_or_two_gives_the_same_bits(dtype, weights):
    import subprocess
    import sys

    prompt = PROMPTS[0] * 6  # ~130 tokens
    run = subprocess.run([sys.executable, "-c", _PREFILL_BY_THREADS, dtype, weights, prompt], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "same: [True, True, True, True]" in run.stdout, run.stdout + run.stderr[-2000:]
