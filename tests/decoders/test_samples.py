"""Samples decoded side by side are, token for token, what `generate` draws one at a time."""

from __future__ import annotations

import pytest

from decoders import CancelFlag, Engine, Plugins, SamplingConfig, StopRules, TokenSetGuide, generate
from decoders.samples import sample_many
from tests.decoders.test_loop import AlternatingGuide

PROMPT = "def f(x):\n    return"


def ids(tokenizer, text):
    return tokenizer(text)["input_ids"]


def configs(n: int, temperature: float = 1.2) -> list[SamplingConfig]:
    return [SamplingConfig(temperature, 0.95, seed=1000 + i) for i in range(n)]


def one_at_a_time(engine, tokenizer, samplings, **kwargs):
    return [generate(engine, engine.prefill(ids(tokenizer, PROMPT)), tokenizer, Plugins(sampling=s, **kwargs)) for s in samplings]


@pytest.mark.parametrize(
    "stop",
    [StopRules(max_new_tokens=30), StopRules(max_new_tokens=40, stop_strings=("\n",)), StopRules(max_new_tokens=25, eos_token_ids=frozenset({10, 32}))],
    ids=["budget", "stop-string", "eos"],
)
def test_side_by_side_equals_one_at_a_time(tiny_cpu_model, byte_tokenizer, stop):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    assert engine.exact
    samplings = configs(6)
    session = engine.prefill(ids(byte_tokenizer, PROMPT))
    before = (list(session.tokens), session.cache.layers[0].keys.shape)
    together = sample_many(engine, session, byte_tokenizer, samplings, stop)
    alone = one_at_a_time(engine, byte_tokenizer, samplings, stop=stop)
    assert [(r.tokens, r.text, r.stop_reason) for r in together] == [(r.tokens, r.text, r.stop_reason) for r in alone]
    assert len({tuple(r.tokens) for r in together}) > 1  # the seeds differ, and so do the samples
    assert together[0].forward_passes <= max(len(r.tokens) for r in together)  # one pass per step for all
    assert (session.tokens, session.cache.layers[0].keys.shape) == before  # the session is left as it was


def test_each_sample_follows_its_own_guide(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    letters = TokenSetGuide.of_characters(byte_tokenizer, "xyz").mask
    digits = TokenSetGuide.of_characters(byte_tokenizer, "123").mask
    guide, stop = AlternatingGuide(letters, digits), StopRules(max_new_tokens=12)
    engine = Engine(tiny_cpu_model)
    samplings = configs(4)
    together = sample_many(engine, engine.prefill(ids(byte_tokenizer, PROMPT)), byte_tokenizer, samplings, stop, guide)
    assert [r.tokens for r in together] == [r.tokens for r in one_at_a_time(engine, byte_tokenizer, samplings, stop=stop, guide=guide)]
    for result in together:
        assert all(c in "xyz" for c in result.text[::2]) and all(c in "123" for c in result.text[1::2])


def test_a_greedy_config_among_samples_is_greedy_decoding(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    stop = StopRules(max_new_tokens=20)
    together = sample_many(engine, engine.prefill(ids(byte_tokenizer, PROMPT)), byte_tokenizer, [SamplingConfig(), *configs(2)], stop)
    assert together[0].tokens == one_at_a_time(engine, byte_tokenizer, [SamplingConfig()], stop=stop)[0].tokens


def test_cancelled_before_the_first_pass(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    cancel = CancelFlag()
    cancel.set()
    results = sample_many(engine, engine.prefill(ids(byte_tokenizer, PROMPT)), byte_tokenizer, configs(3), StopRules(max_new_tokens=20), cancel=cancel)
    assert [(r.stop_reason, len(r.tokens), r.forward_passes) for r in results] == [("cancelled", 1, 0)] * 3


def test_no_configs_is_an_error(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    with pytest.raises(ValueError, match="at least one"):
        sample_many(engine, engine.prefill(ids(byte_tokenizer, PROMPT)), byte_tokenizer, [])
