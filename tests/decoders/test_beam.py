import itertools
from dataclasses import dataclass

import pytest
import torch

from decoders import CancelFlag, Engine, Guide, Plugins, StopRules, TokenSetGuide, beam_search, generate
from decoders.branches import Branches
from tests.decoders.test_loop import AlternatingGuide

PROMPTS = ["def f(x):\n", "class A:\n    ", "import os\nx = "]


def ids(tokenizer, text):
    return tokenizer(text)["input_ids"]


def greedy(model, tokenizer, prompt="def f(x):\n", **kwargs):
    engine = Engine(model)
    return generate(engine, engine.prefill(ids(tokenizer, prompt)), tokenizer, Plugins(**kwargs))


def beams(model, tokenizer, prompt="def f(x):\n", **kwargs):
    engine = Engine(model)
    return beam_search(engine, engine.prefill(ids(tokenizer, prompt)), tokenizer, **kwargs)


def logprob(model, tokenizer, prompt, tokens) -> float:
    """The model's log-probability of `tokens` after `prompt`, from one plain forward pass."""
    prompt_ids = ids(tokenizer, prompt)
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + list(tokens)])).logits[0].float()  # [len, vocab]
    rows = torch.log_softmax(logits[len(prompt_ids) - 1 : -1], dim=-1)  # [len(tokens), vocab]
    return float(rows[torch.arange(len(tokens)), torch.tensor(tokens)].sum())


@dataclass(frozen=True)
class RefusingGuide(Guide):
    """No mask in advance; a chosen token whose text is in `refused` is turned down on choice."""

    tokenizer: object
    refused: str

    def allowed(self):
        return None

    def advance(self, token):
        return self

    def refine(self, token):
        if self.tokenizer.decode([token]) not in self.refused:
            return None
        removed = torch.zeros(len(self.tokenizer), dtype=torch.bool)
        removed[token] = True
        return removed


def test_width_one_is_greedy_decoding_with_a_stop_rule(tiny_model, byte_tokenizer):
    free = greedy(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=40))
    stop = StopRules(max_new_tokens=40, stop_strings=(free.text[10:13],))
    plain = greedy(tiny_model, byte_tokenizer, stop=stop)
    beam = beams(tiny_model, byte_tokenizer, stop=stop, width=1)
    assert plain.stop_reason == "stop"
    assert (beam.tokens, beam.text, beam.stop_reason) == (plain.tokens, plain.text, plain.stop_reason)
    assert beam.forward_passes == plain.forward_passes


@pytest.mark.parametrize("kind", ["mask", "refine", "stateful"])
def test_width_one_is_greedy_decoding_under_a_guide(tiny_model, byte_tokenizer, kind):
    guide = {
        "mask": TokenSetGuide.of_characters(byte_tokenizer, "0123456789"),
        "refine": RefusingGuide(byte_tokenizer, "aeiou \n"),
        "stateful": AlternatingGuide(TokenSetGuide.of_characters(byte_tokenizer, "xyz").mask, TokenSetGuide.of_characters(byte_tokenizer, "123").mask),
    }[kind]
    stop = StopRules(max_new_tokens=30)
    plain = greedy(tiny_model, byte_tokenizer, stop=stop, guide=guide)
    beam = beams(tiny_model, byte_tokenizer, stop=stop, guide=guide, width=1)
    assert (beam.tokens, beam.text, beam.stop_reason) == (plain.tokens, plain.text, plain.stop_reason)


@pytest.mark.parametrize("width", [1, 4])
def test_a_round_is_one_forward_pass_whatever_the_width(tiny_model, byte_tokenizer, monkeypatch, width):
    calls = []
    original = Engine._forward
    monkeypatch.setattr(Engine, "_forward", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    engine = Engine(tiny_model)
    session = engine.prefill(ids(byte_tokenizer, "def f(x):\n"))
    before = (list(session.tokens), session.cache.layers[0].keys.shape)
    calls.clear()
    result = beam_search(engine, session, byte_tokenizer, StopRules(max_new_tokens=10), width)
    assert len(calls) == result.forward_passes <= 10  # the last round's choice needs no pass
    assert (session.tokens, session.cache.layers[0].keys.shape) == before  # the session is left as it was


def test_beams_side_by_side_score_as_separate_sessions_bit_for_bit(tiny_cpu_model, byte_tokenizer, monkeypatch):  # noqa: F811
    compactions = []
    original = Branches._compact
    monkeypatch.setattr(Branches, "_compact", lambda self, a: compactions.append(1) or original(self, a))
    engine = Engine(tiny_cpu_model)
    assert engine.exact
    prompt = ids(byte_tokenizer, "class A:\n    ")
    result = beam_search(engine, engine.prefill(prompt), byte_tokenizer, StopRules(max_new_tokens=60), 6)
    assert compactions  # dead beams' nodes were dropped from the scratch cache on the way
    for beam in result.beams:
        alone = engine.prefill(prompt)
        score = 0.0
        for token in beam.tokens:
            score += float(torch.log_softmax(alone.next_logits.float(), dim=-1)[token])
            engine.step(alone, token)
        assert score == beam.score  # the same logits, summed in the same order


@pytest.mark.parametrize("prompt", PROMPTS)
def test_wider_beams_score_at_least_as_well_as_greedy(tiny_model, byte_tokenizer, prompt):
    stop = StopRules(max_new_tokens=12)  # no EOS, no text rule: every beam has 12 tokens
    plain = greedy(tiny_model, byte_tokenizer, prompt, stop=stop)
    result = beams(tiny_model, byte_tokenizer, prompt, stop=stop, width=4)
    best = result.beams[0]
    assert len(best.tokens) == len(plain.tokens) == 12
    assert best.score == pytest.approx(logprob(tiny_model, byte_tokenizer, prompt, best.tokens), abs=1e-3)
    assert best.score >= logprob(tiny_model, byte_tokenizer, prompt, plain.tokens) - 1e-4
    assert result.tokens == list(best.tokens) and result.text == best.text


def test_a_beam_covering_every_allowed_path_finds_the_best_one(tiny_model, byte_tokenizer):
    # Three allowed tokens and three steps: width 9 keeps every path until the last step,
    # which then ranks all 27, so the best beam is the exhaustive search's answer.
    allowed = ids(byte_tokenizer, "abc")
    guide = TokenSetGuide.of(len(byte_tokenizer), allowed)
    prompt = "def f(x):\n"
    result = beams(tiny_model, byte_tokenizer, prompt, stop=StopRules(max_new_tokens=3), guide=guide, width=9)
    scores = {path: logprob(tiny_model, byte_tokenizer, prompt, path) for path in itertools.product(allowed, repeat=3)}
    assert result.beams[0].tokens == max(scores, key=scores.get)
    assert [b.tokens for b in result.beams] == sorted(scores, key=scores.get, reverse=True)[:9]


def test_every_beam_keeps_its_own_guide(tiny_model, byte_tokenizer):
    letters = TokenSetGuide.of_characters(byte_tokenizer, "xyz").mask
    digits = TokenSetGuide.of_characters(byte_tokenizer, "123").mask
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=9), guide=AlternatingGuide(letters, digits), width=3)
    assert len(result.beams) == 3
    for beam in result.beams:
        assert all(c in "xyz" for c in beam.text[::2]) and all(c in "123" for c in beam.text[1::2])


def test_refused_tokens_appear_in_no_beam(tiny_model, byte_tokenizer):
    guide = RefusingGuide(byte_tokenizer, "aeiou \n")
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), guide=guide, width=3)
    assert result.beams and not any(set(b.text) & set("aeiou \n") for b in result.beams)


def test_eos_ends_a_beam_without_emitting_it(tiny_model, byte_tokenizer):
    eos = byte_tokenizer.eos_token_id
    only_eos = TokenSetGuide.of(len(byte_tokenizer), [eos])
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(eos_token_ids=frozenset({eos})), guide=only_eos, width=3)
    assert (result.stop_reason, result.tokens, result.text) == ("eos", [], "")
    some_eos = TokenSetGuide.of(len(byte_tokenizer), [eos, *ids(byte_tokenizer, "ab")])
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(8, frozenset({eos})), guide=some_eos, width=3)
    assert all(eos not in b.tokens for b in result.beams)
    assert all(b.stop_reason == "eos" or len(b.tokens) == 8 for b in result.beams)


def test_the_token_budget_ends_every_beam(tiny_model, byte_tokenizer):
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=7), width=3)
    assert len(result.beams) == 3
    assert all(b.stop_reason == "max_tokens" and len(b.tokens) == 7 for b in result.beams)


def test_stop_strings_cut_each_beam(tiny_model, byte_tokenizer):
    guide = TokenSetGuide.of(len(byte_tokenizer), ids(byte_tokenizer, "ab"))
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(20, stop_strings=("b",)), guide=guide, width=3)
    assert any(b.stop_reason == "stop" for b in result.beams)
    for beam in result.beams:
        assert "b" not in beam.text
        if beam.stop_reason == "stop":
            assert byte_tokenizer.decode(list(beam.tokens)) == beam.text + "b"


def test_beams_are_ranked_by_length_normalised_score(tiny_model, byte_tokenizer):
    eos = byte_tokenizer.eos_token_id
    guide = TokenSetGuide.of(len(byte_tokenizer), [eos, *ids(byte_tokenizer, "abc")])
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(8, frozenset({eos})), guide=guide, width=4, length_penalty=2.0)
    normalized = [b.normalized for b in result.beams]
    assert normalized == sorted(normalized, reverse=True)
    assert all(b.normalized == pytest.approx(b.score / max(len(b.tokens), 1) ** 2.0) for b in result.beams)


def test_text_is_streamed_once_at_the_end(tiny_model, byte_tokenizer):
    chunks = []
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), width=2, on_text=chunks.append)
    assert chunks == [result.text]


def test_a_cancelled_search_stops_like_the_loop(tiny_model, byte_tokenizer):
    cancel = CancelFlag()
    cancel.set()
    plain = greedy(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), cancel=cancel)
    result = beams(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), width=1, cancel=cancel)
    assert (result.stop_reason, result.tokens, result.forward_passes) == ("cancelled", plain.tokens, 0)


@pytest.mark.parametrize("width", [0, -2])
def test_a_bad_width_is_rejected(tiny_model, byte_tokenizer, width):
    with pytest.raises(ValueError, match=f"beam width must be at least 1, got {width}"):
        beams(tiny_model, byte_tokenizer, stop=StopRules(), width=width)
