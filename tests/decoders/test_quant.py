"""Quantized weights: GGUF blocks read as the file's own values, and a kernel whose rows do not
depend on the other rows of a call, nor its bits on the CPU's instruction set."""

from __future__ import annotations

import gguf
import numpy as np
import pytest
import torch

from decoders import row_kernel
from decoders.quant import blocks
from decoders.quant.linear import MAX_ROWS, QuantKernel, QuantLinear, form, pack, quantized_inputs

T = gguf.GGMLQuantizationType


@pytest.fixture(scope="module")
def kernels() -> list[QuantKernel]:
    assert row_kernel.load().kernel is not None, row_kernel.load().why_not
    return QuantKernel.runnable()


def random_blocks(qtype, rows: int, k: int, seed: int = 0) -> np.ndarray:
    """[rows, bytes per row] of random block bytes, with finite float16 scales in their places."""
    per_block, size = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, size=(rows * k // per_block, size), dtype=np.uint8)
    scales = {T.Q8_0: [0], T.Q4_0: [0], T.Q5_0: [0], T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [size - 2]}[qtype]
    for at in scales:
        raw[:, at : at + 2] = rng.uniform(0.001, 0.01, size=(raw.shape[0], 1)).astype(np.float16).view(np.uint8)
    return raw.reshape(rows, -1)


@pytest.mark.parametrize("qtype", [T.Q8_0, T.Q4_0, T.Q5_0, T.Q4_K, T.Q5_K, T.Q6_K], ids=lambda t: t.name)
def test_codes_hold_exactly_the_values_gguf_dequantizes(qtype):
    data = random_blocks(qtype, rows=5, k=512)
    codes = blocks.from_gguf(data, qtype, 512)
    assert codes.exact and codes.codes.dtype == np.uint8
    np.testing.assert_array_equal(blocks.values(codes), gguf.quants.dequantize(data, qtype).reshape(5, 512))


def test_a_row_that_does_not_fill_whole_blocks_is_refused():
    with pytest.raises(ValueError, match="whole"):
        blocks.from_gguf(random_blocks(T.Q4_K, rows=2, k=256), T.Q4_K, 300)


def layer(codes: blocks.BlockCodes, kernel: QuantKernel, bias: torch.Tensor | None = None) -> QuantLinear:
    return QuantLinear(pack(codes), form(codes), codes.codes.shape[0], bias, kernel, codes.exact)


# Every form the kernel takes: 8-bit codes with an offset, 4-bit, 5-bit and 6-bit codes (nibbles and
# bit planes), 16-value blocks and sub-scales, minima; out sizes not a multiple of the 16-column group,
# and of 1 to 7 groups (a one-row tile takes up to four groups, wider ones two).
FORMS = [(T.Q8_0, 100), (T.Q4_0, 17), (T.Q5_0, 72), (T.Q6_K, 33), (T.Q4_K, 16), (T.Q5_K, 52)]


@pytest.mark.parametrize("qtype,out", FORMS, ids=lambda v: getattr(v, "name", str(v)))
def test_every_row_count_gives_each_row_the_same_bits_in_every_variant(kernels, qtype, out):
    codes = blocks.from_gguf(random_blocks(qtype, rows=out, k=512), qtype, 512)
    bias = torch.randn(out)
    x = torch.randn(MAX_ROWS, 512).to(torch.bfloat16)  # [rows, in]
    results = []
    for kernel in kernels:
        q = layer(codes, kernel, bias)
        full = q(x)  # [MAX_ROWS, out]
        for rows in range(1, MAX_ROWS):
            assert torch.equal(q(x[:rows]), full[:rows]), (kernel.name, rows)
        results.append(full)
    # Integer sums are exact and the float steps are the same in each variant: the same bits.
    for kernel, result in zip(kernels, results):
        assert torch.equal(result, results[0]), kernel.name


@pytest.mark.parametrize("qtype,out", FORMS, ids=lambda v: getattr(v, "name", str(v)))
def test_the_kernel_computes_the_quantized_product(kernels, qtype, out):
    codes = blocks.from_gguf(random_blocks(qtype, rows=out, k=512, seed=1), qtype, 512)
    weight = torch.from_numpy(blocks.values(codes)).double()  # [out, in]
    x = torch.randn(3, 512)
    # What the kernel promises up to float32 rounding: its own input codes times the weights.
    reference = quantized_inputs(x).double() @ weight.T  # [3, out]
    for kernel in kernels:
        got = layer(codes, kernel)(x).double()
        assert torch.allclose(got, reference, rtol=1e-4, atol=1e-4 * reference.abs().max().item()), kernel.name


@pytest.mark.parametrize("qtype,out", FORMS, ids=lambda v: getattr(v, "name", str(v)))
def test_wide_passes_unpack_the_same_weights(kernels, qtype, out):
    codes = blocks.from_gguf(random_blocks(qtype, rows=out, k=512, seed=2), qtype, 512)
    values = torch.from_numpy(blocks.values(codes))
    for kernel in kernels:  # the portable unpacking too, which CPUs without AVX-512 run
        q = layer(codes, kernel)
        assert torch.equal(q.dense(torch.float32), values), kernel.name
        assert torch.equal(q.dense(torch.bfloat16), values.to(torch.bfloat16)), kernel.name
    q = layer(codes, kernels[-1])
    codes = blocks.from_gguf(random_blocks(T.Q5_0, rows=48, k=256), T.Q5_0, 256)
    q = layer(codes, kernels[-1])
    x = torch.randn(MAX_ROWS + 6, 256)
    wide, narrow = q(x), torch.cat([q(x[i : i + 8]) for i in range(0, x.shape[0], 8)])
    assert torch.allclose(wide, narrow, rtol=1e-4, atol=1e-4 * narrow.abs().max().item())


def test_dense_weights_are_requantized_to_eight_bits_per_block():
    weight = torch.randn(20, 128)
    codes = blocks.from_dense(weight)
    assert not codes.exact and codes.block == 32
    error = (torch.from_numpy(blocks.values(codes)) - weight).abs()
    step = torch.from_numpy(codes.d.astype(np.float32)).reshape(20, 4, 1)  # the stored float16 scale
    assert (error.reshape(20, 4, 32) <= step * 0.51).all()


def test_a_layer_cut_to_its_first_columns_computes_those_columns(kernels):
    codes = blocks.from_gguf(random_blocks(T.Q8_0, rows=70, k=64), T.Q8_0, 64)
    q = layer(codes, kernels[-1], torch.randn(70))
    x = torch.randn(2, 64)
    assert torch.equal(q.first_columns(20)(x), q(x)[:, :20])


def test_inputs_are_quantized_by_the_q8_0_rule(kernels):
    x = torch.randn(5, 256) * torch.logspace(-3, 3, 256)  # blocks of very different sizes
    x[1, :32] = 0  # an all-zero block
    blocks_ = x.reshape(5, 8, 32)
    scale = blocks_.abs().amax(-1, keepdim=True) / 127
    inverse = torch.where(scale != 0, 1 / scale, torch.zeros_like(scale))
    expected = (torch.round(blocks_ * inverse).clamp(-127, 127) * scale).reshape(5, 256)  # round: ties to even
    for kernel in kernels:
        assert torch.equal(quantized_inputs(x, kernel), expected), kernel.name
    x16 = x.to(torch.bfloat16)  # bf16 rows take another code path: the same rule
    blocks16 = x16.float().reshape(5, 8, 32)
    scale16 = blocks16.abs().amax(-1, keepdim=True) / 127
    inverse16 = torch.where(scale16 != 0, 1 / scale16, torch.zeros_like(scale16))
    expected16 = (torch.round(blocks16 * inverse16).clamp(-127, 127) * scale16).reshape(5, 256).to(torch.bfloat16)
    for kernel in kernels:
        assert torch.equal(quantized_inputs(x16, kernel), expected16), kernel.name


def test_fused_projections_give_the_separate_layers_bits(tiny_model):
    import copy
    from unittest import mock

    from assistant.progress import Progress
    from assistant.quantize import quantize_model
    from decoders.quant.fused import SharedProjection, fuse_projections

    fused = copy.deepcopy(tiny_model).to(torch.bfloat16)
    quantize_model(fused, None, None, Progress.silent())  # fuses q/k/v and gate/up
    assert isinstance(fused.model.layers[0].self_attn.q_proj, SharedProjection)
    apart = copy.deepcopy(tiny_model).to(torch.bfloat16)
    with mock.patch("assistant.quantize.fuse_projections", lambda model: 0):
        quantize_model(apart, None, None, Progress.silent())
    assert isinstance(apart.model.layers[0].self_attn.q_proj, QuantLinear)
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    for rows in (ids[:, :1], ids, torch.cat([ids] * 10, dim=1)):  # a step, a drafted pass, a prompt
        assert torch.equal(fused(rows).logits, apart(rows).logits)
    # A member called on another input than its group's last one computes that input's columns.
    attention = fused.model.layers[0].self_attn
    x, other = torch.randn(1, 3, 64).bfloat16(), torch.randn(1, 3, 64).bfloat16()
    attention.q_proj(x)
    assert torch.equal(attention.k_proj(other), apart.model.layers[0].self_attn.k_proj(other))
    assert fuse_projections(apart) == 4  # two layers: attention and MLP each
