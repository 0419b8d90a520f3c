"""Selective contrast (USCD-style): the lame prompt's distribution is subtracted at uncertain
steps only, among plausible tokens, under the guides; speculation underneath changes nothing."""

from __future__ import annotations

import math

import pytest
import torch

from decoders import Engine, Plugins, StopRules, TokenSetGuide, generate
from decoders.contrast import ContrastConfig, SelectiveContrast, contrast

from .test_adadec import median_entropy
from .test_speculative import PROMPTS, drafters

LAME = "# no examples\n"


def run(engine, tokenizer, prompt, reranker=None, guide=None, drafter=None):
    session = engine.prefill(tokenizer(prompt)["input_ids"])
    stop = StopRules(max_new_tokens=30, eos_token_ids=frozenset({tokenizer.eos_token_id}))
    return generate(engine, session, tokenizer, Plugins(stop=stop, guide=guide, drafter=drafter, reranker=reranker))


def test_the_contrast_formula_and_the_plausibility_rule():
    logits = torch.log(torch.tensor([0.6, 0.3, 0.09, 0.01]))
    lame = torch.log(torch.tensor([0.9, 0.05, 0.04, 0.01]))
    scores = contrast(logits, lame, alpha=1.0, beta=0.1)
    assert scores[0] == pytest.approx(2 * math.log(0.6) - math.log(0.9), abs=1e-5)
    assert scores[1] == pytest.approx(2 * math.log(0.3) - math.log(0.05), abs=1e-5)
    assert scores[1] > scores[0]  # what the examples added wins
    assert torch.isinf(scores[3]) and torch.isfinite(scores[2])  # 0.01 < 0.1 * 0.6: implausible, never promoted


def test_a_lame_prompt_equal_to_the_prompt_is_greedy(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    for prompt in PROMPTS:
        same = SelectiveContrast(engine, ContrastConfig(threshold=0.0), byte_tokenizer(prompt)["input_ids"])
        # log p - alpha (log p - log p) = log p: the contrast is no contrast at all.
        assert run(engine, byte_tokenizer, prompt, same).tokens == run(engine, byte_tokenizer, prompt).tokens
        assert same.stats.pauses > 0 and same.stats.changed == 0


def test_contrast_changes_some_uncertain_choices_and_no_certain_one(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    changed = 0
    for prompt in PROMPTS:
        reranker = SelectiveContrast(
            engine, ContrastConfig(threshold=median_entropy(engine, byte_tokenizer, prompt), alpha=1.0), byte_tokenizer(LAME)["input_ids"]
        )
        run(engine, byte_tokenizer, prompt, reranker)
        assert 0 < reranker.stats.pauses < reranker.stats.steps
        changed += reranker.stats.changed
    assert changed > 0
    never = SelectiveContrast(engine, ContrastConfig(threshold=1e9), byte_tokenizer(LAME)["input_ids"])
    assert run(engine, byte_tokenizer, PROMPTS[0], never).tokens == run(engine, byte_tokenizer, PROMPTS[0]).tokens
    assert never.stats.extra_passes == 0  # the lame prompt is never even read


@pytest.mark.parametrize("name", ["ngram", "always wrong", "oracle behind a decoy"])
def test_speculation_under_contrast_changes_nothing(tiny_cpu_model, byte_tokenizer, name):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    guide = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghij():\n +", also=[byte_tokenizer.eos_token_id])
    lame = byte_tokenizer(LAME)["input_ids"]
    for prompt in PROMPTS:
        config = ContrastConfig(threshold=median_entropy(engine, byte_tokenizer, prompt, guide), alpha=1.0)
        plain = run(engine, byte_tokenizer, prompt, SelectiveContrast(engine, config, lame), guide)
        n = len(byte_tokenizer(prompt)["input_ids"])
        drafter = drafters(tiny_cpu_model, len(byte_tokenizer))[name](plain, n)
        fast = run(engine, byte_tokenizer, prompt, SelectiveContrast(engine, config, lame), guide, drafter)
        assert fast.tokens == plain.tokens, prompt
        assert set(fast.text) <= set("abcdefghij():\n +")


def test_bad_settings_are_refused(tiny_model):
    with pytest.raises(ValueError, match="alpha"):
        ContrastConfig(threshold=1.0, alpha=0)
    with pytest.raises(ValueError, match="beta"):
        ContrastConfig(threshold=1.0, beta=1.5)
    with pytest.raises(ValueError, match="lame prompt"):
        SelectiveContrast(Engine(tiny_model), ContrastConfig(threshold=1.0), [])
