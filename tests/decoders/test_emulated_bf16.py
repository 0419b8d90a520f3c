"""bf16 where it is emulated: passes wider than decoding size (prompt chunks) run their linear
layers in float32, decoding-size passes run the row kernel either way, and speculation stays
exact. The route is forced here, so these tests hold on a CPU with native bf16 too."""

import copy

import pytest
import torch

from decoders import Engine
from decoders.emulated_bf16 import float32_product, native_bf16
from decoders.linear_route import MAX_ROWS
from decoders.preparation import prepare
from decoders.row_kernel import wide_linear

from .test_speculative import PROMPTS, drafters, plain_and_speculative

# Wider than a decoding-size pass (byte tokens): its prefill takes the float32 route.
LONG_PROMPT = "def total(items):\n    result = 0\n    for item in items:\n        result += item\n    return result\n\ndef mean(items):\n"


@pytest.fixture(scope="module")
def wide_layer():
    torch.manual_seed(0)
    holder = torch.nn.Sequential(torch.nn.Linear(896, 4864)).to(torch.bfloat16)  # the 0.5B MLP's shape
    return holder, prepare(holder, emulated=True).route


@torch.inference_mode()
def test_only_a_pass_wider_than_decoding_size_is_computed_in_float32(wide_layer):
    holder, route = wide_layer
    layer = holder[0]
    x = torch.randn(1, MAX_ROWS + 1, 896).to(torch.bfloat16)  # [batch, rows, in]
    as_bf16, as_fp32 = wide_linear(x, layer.weight, layer.bias), float32_product(x, layer.weight, layer.bias, wide_linear)
    assert not torch.equal(as_bf16, as_fp32)  # else this test could not tell the routes apart
    assert torch.equal(holder(x), as_fp32)  # a prompt chunk
    narrow = x[:, :MAX_ROWS]
    assert torch.equal(holder(narrow), route.kernel(narrow, layer.weight, layer.bias))  # a step, a tree: the kernel


@torch.inference_mode()
def test_without_emulation_wide_passes_are_bf16_products(wide_layer):
    holder, _ = wide_layer
    plain = copy.deepcopy(holder)
    route = prepare(plain, emulated=False).route
    assert not route.upcast_wide
    x = torch.randn(1, MAX_ROWS + 3, 896).to(torch.bfloat16)
    assert torch.equal(plain(x), wide_linear(x, plain[0].weight, plain[0].bias))


def test_the_route_is_decided_once_and_a_copy_keeps_its_own(tiny_model):
    assert native_bf16(torch.device("cuda"))  # GPUs are not asked: nothing is upcast there
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    route = prepare(model, emulated=True).route
    assert prepare(model).route is route and Engine(model).route is route
    back = copy.deepcopy(model).float()  # a copy keeps the route, and follows its own dtype
    layer = back.model.layers[0].mlp.up_proj
    assert layer._guidecode_route == route and layer._guidecode_route is not route
    with torch.inference_mode():
        x = torch.randn(1, MAX_ROWS + 5, back.config.hidden_size)
        assert torch.equal(layer(x), wide_linear(x, layer.weight, None))  # float32 weights: nothing to upcast


@pytest.mark.parametrize("name", ["ngram", "recycling", "always wrong", "oracle behind a decoy"])
def test_speculation_is_exact_with_prompts_in_float32(tiny_model, byte_tokenizer, name):
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    prepare(model, emulated=True)
    assert Engine(model).exact
    for prompt in PROMPTS + [LONG_PROMPT]:
        plain, fast = plain_and_speculative(model, byte_tokenizer, prompt, drafters(model, len(byte_tokenizer))[name])
        assert fast.tokens == plain.tokens, prompt
