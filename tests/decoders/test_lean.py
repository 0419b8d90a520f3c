"""The lean decoding path (decoders/lean.py) and its attention kernel (decoders/kernels/attention.cpp)."""

import pytest
import torch

from decoders import Engine
from decoders.draft import DraftTree
from decoders.invariant import _exact_attention_aten
from decoders.row_kernel import load


def kernel_variants() -> list[int]:
    assert load().kernel is not None, load().why_not
    return torch.ops.guidecode.exact_attention_variants()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_attention_kernel_rows_alone_equal_rows_together_on_every_variant(dtype):
    torch.manual_seed(0)
    q = torch.randn(1, 6, 5, 40).to(dtype)  # 3 query heads per kv head, a head size not a multiple of 8
    cache = torch.randn(2, 1, 2, 300, 40).to(dtype)
    keys, values = cache[0, :, :, :207], cache[1, :, :, :207]  # views of a longer buffer, as the cache gives
    results = []
    for variant in kernel_variants():
        together = torch.ops.guidecode.exact_attention(q, keys, values, None, 0.15, variant)  # [1, 5, 6, 40]
        alone = [torch.ops.guidecode.exact_attention(q[:, :, i : i + 1], keys[:, :, : 203 + i], values[:, :, : 203 + i], None, 0.15, variant) for i in range(5)]
        assert torch.equal(together, torch.cat(alone, dim=1))
        results.append(together)
    assert all(torch.equal(results[0], r) for r in results[1:])  # every CPU's variant, the same bits
    aten, _ = _exact_attention_aten(q, keys, values, None, 0.15)
    torch.testing.assert_close(results[0].float(), aten.float(), rtol=1e-2 if dtype == torch.bfloat16 else 1e-6, atol=1e-6)


def test_attention_kernel_skips_masked_keys_wherever_they_sit():
    torch.manual_seed(1)
    q = torch.randn(1, 2, 1, 16)
    keys, values = torch.randn(1, 1, 10, 16), torch.randn(1, 1, 10, 16)
    seen = [0, 1, 2, 3, 6, 8]  # a tree node: the prefix, then its ancestors among decoys
    mask = torch.zeros(1, 1, 1, 10, dtype=torch.bool)
    mask[..., seen] = True
    for variant in kernel_variants():
        masked = torch.ops.guidecode.exact_attention(q, keys, values, mask, 0.25, variant)
        packed = torch.ops.guidecode.exact_attention(q, keys[:, :, seen], values[:, :, seen], None, 0.25, variant)
        assert torch.equal(masked, packed)


def test_the_lean_path_gives_transformers_logits_bit_for_bit(tiny_cpu_model):
    engine = Engine(tiny_cpu_model)
    assert engine.lean is not None  # the tiny Qwen2 has the plain Llama layout
    if any(type(m).__name__ == "QuantLinear" for m in tiny_cpu_model.modules()):
        assert engine.lean.quantized is not None  # and its quantized layers run in C++
    vocab = tiny_cpu_model.config.vocab_size
    prompt = [(37 * i + 5) % vocab for i in range(90)]  # a prompt pass wider than the lean path's
    tokens = [(11 * i + 3) % vocab for i in range(6)]
    tree = DraftTree.from_paths([tokens[1:4], [tokens[1], (tokens[2] + 1) % vocab]])
    for lean in (None, False):  # the engine's choice (the lean path), then transformers' forward
        session = engine.prefill(prompt)
        stepped = [engine.extend(session, [t]) for t in tokens]
        chained = engine.extend(engine.prefill(prompt), tokens)
        verified = engine.verify(engine.prefill(prompt), tokens[0], tree)
        if lean is None:
            ours = (stepped, chained, verified)
            engine.lean = None  # cached_property: from here on, transformers' forward
        else:
            assert all(torch.equal(a, b) for a, b in zip(ours[0], stepped))
            assert torch.equal(ours[1], chained) and torch.equal(ours[2], verified)
