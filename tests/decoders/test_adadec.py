"""AdaDec: pause at uncertain steps, look ahead from the top candidates, keep the best; greedy
elsewhere. Speculation underneath changes nothing, token for token."""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from decoders import Engine, Plugins, SamplingConfig, StopRules, TokenSetGuide, generate
from decoders.adadec import AdaDec, AdaDecConfig, entropy, guided
from decoders.draft import Drafter

from .test_speculative import PROMPTS, drafters

STEPS = 30


def stop_for(tokenizer) -> StopRules:
    return StopRules(max_new_tokens=STEPS, eos_token_ids=frozenset({tokenizer.eos_token_id}))


def median_entropy(engine, tokenizer, prompt, guide=None) -> float:
    """A threshold at which about half of greedy's steps pause."""
    session = engine.prefill(tokenizer(prompt)["input_ids"])
    seen = []
    for _ in range(STEPS):
        seen.append(entropy(guided(session.next_logits, guide)))
        token = int(torch.argmax(guided(session.next_logits, guide)))
        guide = guide.advance(token) if guide is not None else None
        engine.step(session, token)
    return statistics.median(seen)


def run(engine, tokenizer, prompt, reranker=None, guide=None, drafter=None):
    session = engine.prefill(tokenizer(prompt)["input_ids"])
    return generate(engine, session, tokenizer, Plugins(stop=stop_for(tokenizer), guide=guide, drafter=drafter, reranker=reranker))


def test_entropy_in_nats_over_the_allowed_tokens():
    logits = torch.tensor([math.log(0.5), math.log(0.25), math.log(0.25), float("-inf")])
    assert entropy(logits) == pytest.approx(1.5 * math.log(2))
    assert entropy(torch.tensor([0.0, float("-inf")])) == pytest.approx(0.0)


def test_a_step_below_the_threshold_is_plain_greedy(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    reranker = AdaDec(engine, AdaDecConfig(threshold=1e9))
    for prompt in PROMPTS:
        assert run(engine, byte_tokenizer, prompt, reranker).tokens == run(engine, byte_tokenizer, prompt).tokens
    assert reranker.stats.pauses == 0 and reranker.stats.steps > 0 and reranker.stats.extra_passes == 0


def test_a_lookahead_of_one_token_is_greedy(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    reranker = AdaDec(engine, AdaDecConfig(threshold=0.0, top_k=3, lookahead=1))
    for prompt in PROMPTS:
        assert run(engine, byte_tokenizer, prompt, reranker).tokens == run(engine, byte_tokenizer, prompt).tokens
    assert reranker.stats.pauses == reranker.stats.steps > 0 and reranker.stats.changed == 0


def test_a_pause_keeps_the_candidate_whose_lookahead_scores_best(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    ids = byte_tokenizer(PROMPTS[0])["input_ids"]
    session = engine.prefill(ids)
    before = (list(session.tokens), session.next_logits.clone())
    reranker = AdaDec(engine, AdaDecConfig(threshold=0.0, top_k=3, lookahead=4))
    chosen = reranker.choose(session, None)
    assert (session.tokens, session.next_logits.tolist()) == (before[0], before[1].tolist())  # left as it was
    top3 = torch.topk(session.next_logits, 3).indices.tolist()
    assert [look.token for look in reranker.last] == top3
    for look in reranker.last:
        # Recomputed from scratch: the continuation is greedy after the candidate, the
        # log-probabilities are the model's, the score their mean.
        plain = engine.prefill(ids + [look.token])
        greedy = generate(engine, plain, byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=3)))
        assert list(look.tokens) == [look.token, *greedy.tokens]
        full = engine.extend(engine.prefill(ids), list(look.tokens))  # [4, vocab]: rows after each token
        rows = torch.cat([session.next_logits[None], full[:-1]])
        expected = [float(torch.log_softmax(r.float(), -1)[t]) for r, t in zip(rows, look.tokens)]
        assert look.logprobs == pytest.approx(expected, abs=1e-4)
        assert look.score == pytest.approx(sum(expected) / 4, abs=1e-4)
    assert chosen == max(reranker.last, key=lambda look: look.score).token


def test_reranking_changes_some_choices(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    changed = 0
    for prompt in PROMPTS:
        reranker = AdaDec(engine, AdaDecConfig(threshold=median_entropy(engine, byte_tokenizer, prompt), lookahead=5))
        run(engine, byte_tokenizer, prompt, reranker)
        assert 0 < reranker.stats.pauses < reranker.stats.steps
        changed += reranker.stats.changed
    assert changed > 0


def test_guides_hold_inside_the_lookahead(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    guide = TokenSetGuide.of_characters(byte_tokenizer, "abc xyz")
    reranker = AdaDec(engine, AdaDecConfig(threshold=0.0, lookahead=6))
    result = run(engine, byte_tokenizer, PROMPTS[1], reranker, guide)
    assert set(result.text) <= set("abc xyz")
    assert all(bool(guide.mask[t]) for look in reranker.last for t in look.tokens)


@pytest.mark.parametrize("name", ["ngram", "always wrong", "oracle behind a decoy"])
@pytest.mark.parametrize("guided_run", [False, True])
def test_speculation_under_adadec_changes_nothing(tiny_cpu_model, byte_tokenizer, name, guided_run):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    vocab = len(byte_tokenizer)
    guide = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghij():\n +", also=[byte_tokenizer.eos_token_id]) if guided_run else None
    for prompt in PROMPTS:
        config = AdaDecConfig(threshold=median_entropy(engine, byte_tokenizer, prompt, guide), lookahead=4)
        plain = run(engine, byte_tokenizer, prompt, AdaDec(engine, config), guide)
        n = len(byte_tokenizer(prompt)["input_ids"])
        fast = run(engine, byte_tokenizer, prompt, AdaDec(engine, config), guide, drafters(tiny_cpu_model, vocab)[name](plain, n))
        assert fast.tokens == plain.tokens and fast.text == plain.text, prompt


def test_bad_settings_are_refused(tiny_model, byte_tokenizer):
    with pytest.raises(ValueError, match="top_k"):
        AdaDecConfig(threshold=1.0, top_k=1)
    with pytest.raises(ValueError, match="lookahead"):
        AdaDecConfig(threshold=1.0, lookahead=0)
    with pytest.raises(ValueError, match="scoring"):
        AdaDecConfig(threshold=1.0, scoring="max")
    with pytest.raises(ValueError, match="threshold"):
        AdaDecConfig(threshold=-1.0)
    engine = Engine(tiny_model)
    with pytest.raises(ValueError, match="sampling"):
        Plugins(sampling=SamplingConfig(temperature=0.7), reranker=AdaDec(engine, AdaDecConfig(threshold=1.0)))


class SilentDrafter(Drafter):
    """Never proposes anything: whatever is accepted came from the reranker's hint."""

    def propose(self, context, max_depth):
        from decoders.draft import EMPTY

        return EMPTY

    def observe(self, verified):
        # It proposes only empty trees: a non-empty one was the hint, not its own.
        assert len(verified.tree) == 0, "a drafter must not be told about drafts it did not propose"


def test_the_winners_lookahead_is_drafted_next_and_changes_nothing(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    accepted = 0
    for prompt in PROMPTS:
        config = AdaDecConfig(threshold=median_entropy(engine, byte_tokenizer, prompt), lookahead=5)
        plain = run(engine, byte_tokenizer, prompt, AdaDec(engine, config))
        hinted = run(engine, byte_tokenizer, prompt, AdaDec(engine, config), drafter=SilentDrafter())
        assert hinted.tokens == plain.tokens, prompt
        accepted += hinted.accepted
    assert accepted > 0  # lookahead tokens were accepted as drafts


def test_a_step_outside_the_places_to_pause_is_greedy_and_looks_nowhere(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    decode = byte_tokenizer.decode
    nowhere = AdaDec(engine, AdaDecConfig(threshold=0.0, lookahead=4), decode=decode, place=lambda before: False)
    for prompt in PROMPTS:
        assert run(engine, byte_tokenizer, prompt, nowhere).tokens == run(engine, byte_tokenizer, prompt).tokens
    assert nowhere.stats.pauses == 0 and nowhere.stats.extra_passes == 0 and nowhere.stats.steps > 0
    # Only the first step may pause: later steps are greedy's after its choice.
    prompt = PROMPTS[0]
    first = AdaDec(engine, AdaDecConfig(threshold=0.0, lookahead=4), decode=decode, place=lambda before: not before)
    written = run(engine, byte_tokenizer, prompt, first).tokens
    assert first.stats.pauses == 1
    session = engine.prefill(byte_tokenizer(prompt)["input_ids"] + written[:1])
    rest = generate(engine, session, byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=STEPS - 1, eos_token_ids=frozenset({byte_tokenizer.eos_token_id}))))
    assert written[1:] == rest.tokens
    with pytest.raises(ValueError, match="decode"):
        AdaDec(engine, AdaDecConfig(threshold=1.0), place=lambda before: True)
