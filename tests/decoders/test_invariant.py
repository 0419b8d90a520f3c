"""The linear layers' preparation: hooks only where they make rows agree, and a truthful answer.

CPUs differ: on one with avx512_bf16 a single bf16 row takes another path than two rows (the
two-row presentation fixes it); on an AVX2 CPU without it, bf16 rows agree as they are and fp32
rows agree only at multiples of 4 (nothing cheap fixes that). These tests hold on either."""

import copy

import pytest
import torch

from decoders import Engine
from decoders.invariant import make_batch_invariant, rows_agree

from ..conftest import make_tiny_model

# Shapes of the embedded 0.5B model's layers (q, k/v with bias; o; MLP up and down): kernels are
# chosen by shape, so the tiny model's layers alone could hide a path the real ones take.
REAL_SHAPES = [(896, 896, True), (896, 128, True), (896, 896, False), (896, 4864, False), (4864, 896, False)]


def _rows_by_count(module: torch.nn.Module, x: torch.Tensor) -> list[bool]:
    """For each row count m in 1..len(x): do the module's rows for x[:m] equal those for all of x?"""
    with torch.inference_mode():
        full = module(x[None])[0]  # [n, out], called as the model calls it: [batch, rows, in]
        return [torch.equal(module(x[None, :m])[0], full[:m]) for m in range(1, len(x) + 1)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_model_said_to_have_agreeing_rows_has_them_for_every_row_count(dtype):
    torch.manual_seed(0)
    layers = [torch.nn.Linear(i, o, bias=b).to(dtype) for i, o, b in REAL_SHAPES]
    holder = torch.nn.ModuleList(layers)
    agree = make_batch_invariant(holder)
    hooked = [bool(m._forward_pre_hooks) for m in layers]
    generator = torch.Generator().manual_seed(1)
    per_layer = [_rows_by_count(m, torch.randn(40, m.in_features, generator=generator).to(dtype)) for m in layers]
    if agree:
        assert all(all(counts) for counts in per_layer)  # 1..40 rows, beyond the probe's counts
    else:
        assert not all(all(counts) for counts in per_layer) and not any(hooked)
    # Hooks only where a layer's rows did not agree as they were: a single-row step stays the GEMV.
    assert any(hooked) == (not all(rows_agree(m) for m in layers) and agree)
    assert make_batch_invariant(holder) == agree and [bool(m._forward_pre_hooks) for m in layers] == hooked  # decided once


def test_an_engine_whose_linear_rows_disagree_is_not_exact_and_speculates_nowhere(tiny_model):
    model = copy.deepcopy(tiny_model)
    weight = next(model.parameters())
    model._guidecode_rows_agree = {(weight.dtype, weight.device): False}  # as on a CPU where nothing makes rows agree
    assert not Engine(model).exact


def test_where_the_probe_says_rows_agree_the_engine_check_agrees(tiny_model):
    """The end-to-end check (a chain and a tree against single steps) never contradicts the probe
    when the probe says rows agree: exact attention makes the rest invariant."""
    bf16 = copy.deepcopy(tiny_model).to(torch.bfloat16)
    engine = Engine(bf16)
    assert engine.exact == bf16._guidecode_rows_agree[(torch.bfloat16, next(bf16.parameters()).device)]


def test_a_copy_in_another_dtype_decides_anew(tiny_model):
    """Tests and users copy a model an engine has prepared and cast it: the copy's layers get the
    decision for its own dtype, not the original's."""
    fp32 = copy.deepcopy(tiny_model).float()
    first = Engine(fp32).exact
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    never_prepared = make_tiny_model(tiny_model.config.vocab_size).to(torch.bfloat16)
    assert Engine(bf16).exact == Engine(never_prepared).exact
    assert Engine(fp32).exact == first
