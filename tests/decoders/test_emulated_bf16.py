"""bf16 where it is emulated: prompt chunks run their linear layers in float32, nothing else does,
and speculation stays exact. The route is forced here, so these tests hold on a CPU with native
bf16 too (there the engine leaves models as they are)."""

import copy

import pytest
import torch
import torch.nn.functional as F

from decoders import Engine
from decoders.emulated_bf16 import MIN_ROWS, native_bf16, upcast_prompt_chunks

from .test_speculative import PROMPTS, drafters, plain_and_speculative


def _routes(layer: torch.nn.Linear, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's output for x as bf16 computes it, and as float32 rounded to bf16."""
    bias = layer.bias.float()
    return F.linear(x, layer.weight, layer.bias), F.linear(x.float(), layer.weight.float(), bias).to(torch.bfloat16)


@pytest.fixture(scope="module")
def wide_layer():
    torch.manual_seed(0)
    holder = torch.nn.Sequential(torch.nn.Linear(896, 4864)).to(torch.bfloat16)  # the 0.5B MLP's shape
    return holder, upcast_prompt_chunks(holder, emulated=True)


@torch.inference_mode()
def test_only_a_prompt_chunk_of_more_than_min_rows_is_computed_in_float32(wide_layer):
    holder, chunks = wide_layer
    layer = holder[0]
    x = torch.randn(1, 3 * MIN_ROWS, 896).to(torch.bfloat16)  # [batch, rows, in]
    as_bf16, as_fp32 = _routes(layer, x)
    assert not torch.equal(as_bf16, as_fp32)  # else this test could not tell the routes apart
    assert torch.equal(holder(x), as_bf16)  # not a prompt chunk: a step or a drafted tree
    with chunks.chunk(True):
        assert torch.equal(holder(x), as_fp32)
        few = x[:, :MIN_ROWS]
        assert torch.equal(holder(few), _routes(layer, few)[0])  # a short chunk: one bf16 pass is cheaper
    assert not chunks.in_flight


def test_an_engine_marks_prompt_chunks_and_nothing_else(tiny_model, byte_tokenizer):
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    chunks = upcast_prompt_chunks(model, emulated=True)
    seen: list[tuple[int, bool]] = []  # (rows, marked as a prompt chunk) per call of the first layer
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    first.register_forward_pre_hook(lambda module, args: seen.append((args[0].shape[-2], chunks.in_flight)))
    engine = Engine(model)
    assert engine._prompt_chunks is chunks
    seen.clear()  # Engine.exact's probe ran
    ids = byte_tokenizer(PROMPTS[0])["input_ids"]
    session = engine.prefill(ids, chunk=24)
    engine.step(session, 5)
    engine.extend(session, [6, 7, 8])
    chunks_of_prompt = [(min(24, len(ids) - start), True) for start in range(0, len(ids), 24)]
    assert len(chunks_of_prompt) > 1 and seen == [*chunks_of_prompt, (1, False), (3, False)]


def test_a_model_in_another_dtype_or_told_not_to_is_left_as_it_is(tiny_model):
    assert upcast_prompt_chunks(copy.deepcopy(tiny_model).float()) is None
    assert native_bf16(torch.device("cuda"))  # GPUs are not asked: nothing is routed there
    declined = copy.deepcopy(tiny_model).to(torch.bfloat16)
    assert upcast_prompt_chunks(declined, emulated=False) is None and Engine(declined)._prompt_chunks is None
    converted = copy.deepcopy(tiny_model).to(torch.bfloat16)
    chunks = upcast_prompt_chunks(converted, emulated=True)
    back = copy.deepcopy(converted).float()  # a copy keeps the route, and follows its own dtype
    layer = back.model.layers[0].mlp.up_proj
    assert layer._guidecode_chunks is not chunks
    with torch.inference_mode(), layer._guidecode_chunks.chunk(True):
        x = torch.randn(1, 20, back.config.hidden_size, device=layer.weight.device)
        assert torch.equal(layer(x), F.linear(x, layer.weight))
    assert upcast_prompt_chunks(back) is None  # fp32 decides anew
    assert upcast_prompt_chunks(back.to(torch.bfloat16), emulated=True) is layer._guidecode_chunks


@pytest.mark.parametrize("name", ["ngram", "recycling", "always wrong", "oracle behind a decoy"])
def test_speculation_is_exact_with_prompts_in_float32(tiny_model, byte_tokenizer, name):
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    upcast_prompt_chunks(model, emulated=True)
    assert Engine(model).exact
    for prompt in PROMPTS:
        plain, fast = plain_and_speculative(model, byte_tokenizer, prompt, drafters(model, len(byte_tokenizer))[name])
        assert fast.tokens == plain.tokens, prompt
