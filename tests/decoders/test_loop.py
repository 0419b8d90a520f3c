from dataclasses import dataclass

import pytest
import torch

from decoders import CancelFlag, Engine, Guide, Plugins, SamplingConfig, StopRules, TokenSetGuide, generate


def run(model, tokenizer, prompt="def f(x):\n", **kwargs):
    engine = Engine(model)
    session = engine.prefill(tokenizer(prompt)["input_ids"])
    return generate(engine, session, tokenizer, Plugins(**kwargs))


def test_token_set_guide_constrains_every_step(tiny_model, byte_tokenizer):
    free = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=30))
    digits = TokenSetGuide.of_characters(byte_tokenizer, "0123456789")
    guided = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=30), guide=digits)
    assert not free.text.isdigit()  # the guide has something to change
    assert guided.text.isdigit() and len(guided.tokens) == 30


@dataclass(frozen=True)
class AlternatingGuide(Guide):
    """Stateful: even steps allow only `a`, odd steps only `b`."""

    a: torch.Tensor
    b: torch.Tensor
    step: int = 0

    def allowed(self):
        return self.a if self.step % 2 == 0 else self.b

    def advance(self, token):
        return AlternatingGuide(self.a, self.b, self.step + 1)


def test_guide_state_is_a_value_that_forks(tiny_model, byte_tokenizer):
    vocab = len(byte_tokenizer)
    letters = TokenSetGuide.of_characters(byte_tokenizer, "xyz").mask
    digits = TokenSetGuide.of_characters(byte_tokenizer, "123").mask
    guide = AlternatingGuide(letters, digits)
    first = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), guide=guide)
    assert all(c in "xyz" for c in first.text[::2]) and all(c in "123" for c in first.text[1::2])
    # advancing returned new values: the original guide still starts at step 0
    assert guide.step == 0
    again = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), guide=guide)
    assert again.tokens == first.tokens
    assert vocab == letters.shape[0]


def test_an_unsatisfiable_mask_is_ignored_not_fatal(tiny_model, byte_tokenizer):
    nothing = TokenSetGuide(torch.zeros(len(byte_tokenizer), dtype=torch.bool))
    free = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=8))
    guided = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=8), guide=nothing)
    assert guided.tokens == free.tokens


def test_eos_stops_without_emitting(tiny_model, byte_tokenizer):
    eos = byte_tokenizer.eos_token_id
    only_eos = TokenSetGuide.of(len(byte_tokenizer), [eos])
    result = run(tiny_model, byte_tokenizer, stop=StopRules(eos_token_ids=frozenset({eos})), guide=only_eos)
    assert result.stop_reason == "eos" and result.tokens == [] and result.text == ""


def test_stop_string_cuts_the_text_and_streaming_never_shows_it(tiny_model, byte_tokenizer):
    free = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=40))
    marker = free.text[10:13]
    assert len(marker) == 3 and free.text.find(marker) == 10
    chunks = []
    result = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=40, stop_strings=(marker,)), on_text=chunks.append)
    assert result.stop_reason == "stop"
    assert result.text == free.text[:10]
    assert "".join(chunks) == result.text


def test_predicate_stops_where_it_says(tiny_model, byte_tokenizer):
    def at_fifth_char(text):
        return 5 if len(text) >= 7 else None

    letters = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghijklmnopqrstuvwxyz ")  # one character a token
    rules = StopRules(max_new_tokens=40, predicates=(at_fifth_char,))
    result = run(tiny_model, byte_tokenizer, stop=rules, guide=letters)
    assert result.stop_reason == "stop" and len(result.text) == 5 and len(result.tokens) == 7


def test_streamed_chunks_add_up_to_the_text(tiny_model, byte_tokenizer):
    chunks = []
    result = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=50), on_text=chunks.append)
    assert len(chunks) > 1 and "".join(chunks) == result.text


def test_cancel_flag_stops_at_the_next_step(tiny_model, byte_tokenizer):
    cancel = CancelFlag()
    result = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=200), cancel=cancel, on_text=lambda _: cancel.set())
    assert result.stop_reason == "cancelled"
    assert len(result.tokens) < 5


def test_only_rounds_that_go_on_cost_a_forward_pass(tiny_model, byte_tokenizer):
    done = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10))
    # The prompt's logits choose the first token; the round that takes the last runs nothing.
    assert (len(done.tokens), done.forward_passes) == (10, 9)
    cancel = CancelFlag()
    cancel.set()
    cancelled = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=10), cancel=cancel)
    assert (cancelled.stop_reason, cancelled.tokens, cancelled.forward_passes) == ("cancelled", done.tokens[:1], 0)


def test_resuming_after_generated_tokens_ends_where_one_call_ends(tiny_model, byte_tokenizer):
    letters = TokenSetGuide.of_characters(byte_tokenizer, "xyz").mask
    digits = TokenSetGuide.of_characters(byte_tokenizer, "123").mask
    stop = StopRules(max_new_tokens=12)
    whole = run(tiny_model, byte_tokenizer, stop=stop, guide=AlternatingGuide(letters, digits))
    head = whole.tokens[:5]
    engine = Engine(tiny_model)
    session = engine.prefill(byte_tokenizer("def f(x):\n")["input_ids"] + head)
    # The budget counts the resumed tokens, and the guide given has seen them.
    rest = generate(engine, session, byte_tokenizer, Plugins(stop=stop, guide=AlternatingGuide(letters, digits, step=5)), generated=head)
    assert (rest.tokens, rest.text, rest.stop_reason) == (whole.tokens, whole.text, whole.stop_reason)
    assert rest.forward_passes == whole.forward_passes - len(head)


def test_sampling_is_reproducible_by_seed(tiny_model, byte_tokenizer):
    def sample(seed):
        return run(tiny_model, byte_tokenizer, sampling=SamplingConfig(temperature=1.5, seed=seed), stop=StopRules(max_new_tokens=20)).tokens

    assert sample(1) == sample(1)
    assert sample(1) != sample(2)


def test_tiny_top_p_is_greedy(tiny_model, byte_tokenizer):
    greedy = run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=20))
    nucleus = run(tiny_model, byte_tokenizer, sampling=SamplingConfig(temperature=1.0, top_p=1e-6, seed=3), stop=StopRules(max_new_tokens=20))
    assert nucleus.tokens == greedy.tokens


@pytest.mark.parametrize("bad", [dict(temperature=-1), dict(top_p=0), dict(top_p=1.5)])
def test_sampling_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        SamplingConfig(**bad)


def test_stop_rules_reject_bad_values():
    with pytest.raises(ValueError, match="max_new_tokens"):
        StopRules(max_new_tokens=0)
    with pytest.raises(ValueError, match="empty"):
        StopRules(stop_strings=("",))


def test_a_predicate_with_a_short_reach_streams_its_line_before_it_ends(tiny_model, byte_tokenizer):
    letters = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghijklmnopqrstuvwxyz ")  # no newline: one line
    seen: list[str] = []

    def at_q(text):
        seen.append(text)
        return text.find("q") if "q" in text else None

    shown_while_running: list[str] = []
    chunks: list[str] = []

    def sink(chunk):
        chunks.append(chunk)
        shown_while_running.append("".join(chunks))

    line_rules = StopRules(max_new_tokens=30, predicates=(at_q,), predicate_reach=1)
    result = run(tiny_model, byte_tokenizer, stop=line_rules, guide=letters, on_text=sink)
    assert len(shown_while_running) > 1  # it streamed before the end
    assert all(result.text.startswith(shown) for shown in shown_while_running)
    held = []
    run(tiny_model, byte_tokenizer, stop=StopRules(max_new_tokens=30, predicates=(at_q,)), guide=letters, on_text=held.append)
    assert len(held) <= 1  # without a reach, the one line waits for its end


def test_a_negative_predicate_reach_is_refused():
    with pytest.raises(ValueError, match="predicate_reach"):
        StopRules(predicate_reach=-1)
