import pytest
import torch

from decoders import Engine


def prompt_ids(tokenizer, text="def add(a, b):\n    return"):
    return tokenizer(text)["input_ids"]


def test_greedy_matches_transformers_generate(tiny_model, byte_tokenizer):
    from decoders import Plugins, StopRules, generate

    engine = Engine(tiny_model)
    for text in ["def add(a, b):\n", "import os\nfor x in", "class A:"]:
        ids = prompt_ids(byte_tokenizer, text)
        expected = tiny_model.generate(torch.tensor([ids], device=tiny_model.device), max_new_tokens=40, do_sample=False, eos_token_id=None, pad_token_id=0)[
            0, len(ids) :
        ].tolist()
        result = generate(engine, engine.prefill(ids), byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=40)))
        assert result.tokens == expected
        assert result.stop_reason == "max_tokens"


def test_extend_gives_the_same_logits_as_single_steps(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer)
    more = prompt_ids(byte_tokenizer, " a + b")
    one = engine.prefill(ids)
    rows = engine.extend(one, more)  # [k, vocab]
    two = engine.prefill(ids)
    for i, token in enumerate(more):
        engine.step(two, token)
        torch.testing.assert_close(rows[i], two.next_logits, rtol=1e-4, atol=1e-4)
    assert one.tokens == two.tokens


def test_fork_is_independent_of_its_parent(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer)
    parent = engine.prefill(ids)
    child = engine.fork(parent)
    engine.extend(child, prompt_ids(byte_tokenizer, " x"))
    engine.extend(parent, prompt_ids(byte_tokenizer, " yz"))
    for session in (parent, child):
        fresh = engine.prefill(session.tokens)
        torch.testing.assert_close(session.next_logits, fresh.next_logits, rtol=1e-4, atol=1e-4)
        assert session.cache.get_seq_length() == len(session.tokens)
    assert child.tokens == ids + prompt_ids(byte_tokenizer, " x")


def test_rollback_recomputes_or_accepts_known_logits(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer)
    session = engine.prefill(ids)
    extra = prompt_ids(byte_tokenizer, " a - b")
    rows = engine.extend(session, extra)  # [5, vocab]
    engine.rollback(session, 3)
    expected = engine.prefill(ids + extra[:-3])
    assert session.tokens == expected.tokens
    torch.testing.assert_close(session.next_logits, expected.next_logits, rtol=1e-4, atol=1e-4)
    engine.rollback(session, 1, next_logits=rows[1])  # row 1: the logits after extra[1]
    assert session.tokens == ids + extra[:-4]
    assert session.cache.get_seq_length() == len(session.tokens)
    torch.testing.assert_close(session.next_logits, engine.prefill(session.tokens).next_logits, rtol=1e-4, atol=1e-4)


def test_rollback_refuses_to_eat_the_prompt(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    session = engine.prefill(prompt_ids(byte_tokenizer))
    engine.step(session, 5)
    with pytest.raises(ValueError, match="only 1 were generated"):
        engine.rollback(session, 2)


def test_prefill_rejects_an_empty_prompt(tiny_model):
    with pytest.raises(ValueError, match="at least one"):
        Engine(tiny_model).prefill([])


def test_prefill_reuses_the_shared_prefix_of_an_earlier_session(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    first = engine.prefill(prompt_ids(byte_tokenizer, "def add(a, b):\n    return a + b\n"))
    engine.step(first, 7)  # the earlier session went on generating; reuse must not care
    before = list(first.tokens)
    second_prompt = prompt_ids(byte_tokenizer, "def add(a, b):\n    return a - b\n")
    second = engine.prefill(second_prompt, reuse=first)
    assert second.reused == len("def add(a, b):\n    return a ")
    assert second.tokens == second_prompt and second.prompt_length == len(second_prompt)
    fresh = engine.prefill(second_prompt)
    torch.testing.assert_close(second.next_logits, fresh.next_logits, rtol=1e-4, atol=1e-4)
    assert first.tokens == before  # the earlier session is untouched
    again = engine.prefill(second_prompt, reuse=second)  # identical prompt: the last token is recomputed
    assert again.reused == len(second_prompt) - 1
    torch.testing.assert_close(again.next_logits, fresh.next_logits, rtol=1e-4, atol=1e-4)


def test_chunked_prefill_matches_and_can_be_cancelled(tiny_model, byte_tokenizer):
    from decoders import CancelFlag

    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer, "import os\n" * 10)
    whole, chunked = engine.prefill(ids), engine.prefill(ids, chunk=16)
    torch.testing.assert_close(whole.next_logits, chunked.next_logits, rtol=1e-4, atol=1e-4)
    cancel = CancelFlag()
    cancel.set()
    assert engine.prefill(ids, chunk=16, cancel=cancel) is None


def test_cancel_interrupts_inside_a_forward_pass_and_spares_the_parent(tiny_model, byte_tokenizer):
    from decoders import CancelFlag
    from decoders.engine import Interrupted

    engine = Engine(tiny_model)
    assert engine.interruptible == 2  # both decoder layers carry the check
    ids = prompt_ids(byte_tokenizer, "import os\n" * 5)
    parent = engine.prefill(ids)
    expected = engine.prefill(ids + prompt_ids(byte_tokenizer, "x = 1"))
    cancel = CancelFlag()
    # Another thread sets the flag while layer 0 runs: layer 1 must not run. The hooks sit on
    # projections, which transformers' forward and the lean path (decoders/lean.py) both call.
    ran = []
    first, second = [m for m in tiny_model.modules() if type(m).__name__.endswith("DecoderLayer")]
    hooks = [first.mlp.down_proj.register_forward_hook(lambda *a: cancel.set()), second.self_attn.q_proj.register_forward_hook(lambda *a: ran.append(1))]
    try:
        assert engine.prefill(ids + prompt_ids(byte_tokenizer, "x = 1"), reuse=parent, cancel=cancel) is None
        child = engine.fork(parent)
        with pytest.raises(Interrupted):
            engine.extend(child, prompt_ids(byte_tokenizer, "x = 1"), cancel)
    finally:
        for hook in hooks:
            hook.remove()
    assert ran == []
    again = engine.prefill(ids + prompt_ids(byte_tokenizer, "x = 1"), reuse=parent)
    torch.testing.assert_close(again.next_logits, expected.next_logits, rtol=1e-4, atol=1e-4)


def test_a_prefill_cancelled_midway_leaves_its_finished_chunks_for_reuse(tiny_model, byte_tokenizer):
    import threading

    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer, "import os\n" * 10)
    calls = []

    class CancelOnThirdLayerCall(threading.Event):
        def is_set(self):  # the engine checks before every decoder layer: trip inside the 2nd chunk's pass
            calls.append(1)
            return len(calls) > 5

    kept = []
    assert engine.prefill(ids, chunk=16, cancel=CancelOnThirdLayerCall(), on_partial=kept.append) is None
    (partial,) = kept
    assert partial.tokens == ids[:16]  # the first chunk only; the interrupted one is cropped away
    assert all(layer.keys.shape[-2] == 16 for layer in partial.cache.layers)
    resumed = engine.prefill(ids, reuse=partial, chunk=16)
    fresh = engine.prefill(ids, chunk=16)
    assert resumed.reused == 16 and torch.equal(resumed.next_logits, fresh.next_logits)


def test_a_prefill_cancelled_inside_its_first_chunk_returns_nothing(tiny_model, byte_tokenizer):
    import threading

    engine = Engine(tiny_model)
    ids = prompt_ids(byte_tokenizer, "import os\n" * 10)
    before = engine.prefill(ids, chunk=16).next_logits
    calls = []

    class CancelOnSecondLayer(threading.Event):
        def is_set(self):  # trips between layer 0 and layer 1 of the first chunk: layer 1 holds no keys yet
            calls.append(1)
            return len(calls) > 2

    kept = []
    assert engine.prefill(ids, chunk=16, cancel=CancelOnSecondLayer(), on_partial=kept.append) is None
    assert kept == []  # nothing finished, nothing to reuse
    assert torch.equal(engine.prefill(ids, chunk=16).next_logits, before)  # the engine is as it was
