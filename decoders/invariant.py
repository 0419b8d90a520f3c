"""A forward pass whose answer for one token does not depend on which other tokens ran with it.

Speculation is lossless only if verifying k drafted tokens in one forward pass gives the same
logits, bit for bit, as k single-token steps. Stock PyTorch on CPU does not: greedy choices of the
0.5B model in bf16 flipped at near-ties (1 token in 64, logits apart by up to 0.3, measured), from
two places, each fixed here:

- Linear layers. oneDNN's bf16 GEMM (CPUs with avx512_bf16) computes each output row the same
  way for any number of rows >= 2, but one row takes a GEMV path whose reduction order differs
  (rows of the 4864-wide MLP projection came out different). There a single row is presented as
  two (an `expand`, no copy; as fast as the GEMV), so every forward uses the GEMM path. Elsewhere
  that costs instead of helping: on an AVX2 CPU without avx512_bf16, bf16 rows agree for every
  row count as they are (emulated; prompts are computed in fp32 there, decoders/emulated_bf16.py),
  and a two-row bf16 call costs twice one row; fp32 rows there agree only
  for row counts that are multiples of 4, and a two-row fp32 call also costs twice one. So the
  model's own layer shapes are tried first (`rows_agree`) and the presentation is used only where
  it makes rows agree that did not.
- Attention. The fused SDPA kernel's blocking and its GQA paths depend on the query length.
  Here the scores, softmax and weighted sum run in float64 for the short query blocks of decoding
and verification. Every product of two bf16/fp32 values is exact in float64 and the sums carry
~1e-16 relative error, far below the resolution of the bf16 or fp32 result, so the rounded
output is the same whichever keys are masked out around a query, in whatever order, and however
many queries share the call: a drafted tree's nodes get exactly what sequential steps get. It
is also cheaper than the fused kernel for one query (no blocking set-up); long blocks (prompt
prefill) go to PyTorch's SDPA, which both plain and speculative decoding share.

Not protected: CUDA matmuls (cuBLAS picks kernels by shape), where only the attention part is
made invariant, and fp32 GEMMs, whose MKL kernels change with the row count (measured; padding
every pass to a multiple of 4 rows would make them agree on the AVX2 CPU, but a plain step of the
0.5B model would then cost 2.2x: a 4-token pass took 360 ms against 164 ms for one). Whether a
loaded model is invariant is checked by running it (`decoders.engine.Engine.exact`), not
assumed; speculation is on by default only where that check passed.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "guidecode_exact"
T = TypeVar("T")
# Query blocks up to this length run in float64: decoding steps and draft verification.
EXACT_MAX_QUERIES = 64


def exact_attention(
    module: torch.nn.Module,
    query: torch.Tensor,  # [batch, heads, q, head_dim]
    key: torch.Tensor,  # [batch, kv_heads, kv, head_dim]
    value: torch.Tensor,  # [batch, kv_heads, kv, head_dim]
    attention_mask: torch.Tensor | None,  # [batch or 1, 1, q, kv]: bool (True = visible) or additive float
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs,
) -> tuple[torch.Tensor, None]:
    batch, heads, q_len, head_dim = query.shape
    if q_len > EXACT_MAX_QUERIES:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout, scaling, is_causal, **kwargs)
    kv_heads, kv_len = key.shape[1], key.shape[2]
    group = heads // kv_heads  # query heads [h * group, (h + 1) * group) read kv head h
    q = query.reshape(batch, kv_heads, group * q_len, head_dim).double()
    scale = scaling if scaling is not None else head_dim**-0.5
    scores = torch.matmul(q, key.double().transpose(-1, -2)) * scale  # [batch, kv_heads, group * q, kv]
    scores = scores.view(batch, kv_heads, group, q_len, kv_len)
    if attention_mask is None and q_len > 1:
        # No mask means plain causal; the queries are the last q_len positions.
        rows = torch.arange(q_len, device=query.device)[:, None] + (kv_len - q_len)
        attention_mask = (torch.arange(kv_len, device=query.device)[None, :] <= rows)[None, None]
    if attention_mask is not None:
        mask = attention_mask[:, :, None]  # [batch or 1, 1, 1, q, kv]
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask.double()
    probs = torch.softmax(scores, dim=-1).view(batch, kv_heads, group * q_len, kv_len)
    out = torch.matmul(probs, value.double())  # [batch, kv_heads, group * q, head_dim]
    out = out.view(batch, heads, q_len, head_dim).transpose(1, 2).to(query.dtype).contiguous()
    return out, None  # [batch, q, heads, head_dim], as transformers' attention functions return


def _present_two_rows(module: torch.nn.Linear, args: tuple) -> tuple | None:
    x = args[0]  # [..., rows, in_features]
    module._guidecode_single_row = x.shape[:-1] if x.shape[:-1].numel() == 1 else None
    if module._guidecode_single_row is None:
        return None
    # 2-D on purpose: a 3-D input with a stride-0 row dimension takes yet another path.
    return (x.reshape(1, x.shape[-1]).expand(2, x.shape[-1]),)  # [2, in_features]


def _take_first_row(module: torch.nn.Linear, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
    if module._guidecode_single_row is None:
        return None
    return output[:1].view(*module._guidecode_single_row, output.shape[-1])  # [..., 1, out_features]


def make_batch_invariant(model: torch.nn.Module) -> bool:
    """Switch to exact attention where the model allows it, and hook the linear layers where
    single rows need presenting as two (decided once per model, dtype and device). False when the
    linear layers give rows that depend on the row count either way: then no pass over several
    tokens is exact."""
    use_exact_attention(model)
    return decided_once(model, "_guidecode_rows_agree", lambda: _prepare_linears(model))


def decided_once(model: torch.nn.Module, attribute: str, decide: Callable[[], T]) -> T:
    """`decide()` for the model's current dtype and device, run once per pair. Kept in the model's
    own __dict__ under `attribute`: a deep copy copies it, and a copy cast to another dtype or moved
    to another device decides anew."""
    weight = next(model.parameters())
    decided: dict = model.__dict__.setdefault(attribute, {})
    key = (weight.dtype, weight.device)
    if key not in decided:
        decided[key] = decide()
    return decided[key]


def _prepare_linears(model: torch.nn.Module) -> bool:
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    probed = _distinct_shapes(linears)
    if any(hasattr(m, "_guidecode_single_row") for m in linears):  # a copy of a model hooked before
        return all(rows_agree(m, single_as_two=True) for m in probed)
    if all(rows_agree(m) for m in probed):
        return True
    if not all(rows_agree(m, single_as_two=True) for m in probed):
        return False
    for module in linears:
        module._guidecode_single_row = None
        module.register_forward_pre_hook(_present_two_rows)
        module.register_forward_hook(_take_first_row)
    return True


# Row counts that decoding steps (1), drafted trees and beams use; compared with a 24-row call.
_PROBE_ROWS = (1, 2, 3, 5, 8, 17)
_PROBE_OUTPUTS = 8192


@torch.inference_mode()
def rows_agree(linear: torch.nn.Linear, single_as_two: bool = False) -> bool:
    """Whether each output row of `linear` is the same bit for bit whatever the number of rows
    computed with it (a single row given as two identical rows when `single_as_two`)."""
    # An output layer's 150k rows would make this cost seconds where bf16 is emulated; the kernel
    # is chosen by the row count and the inner size, and Engine.exact checks the whole model anyway.
    weight = linear.weight[:_PROBE_OUTPUTS]  # [out, in]
    bias = None if linear.bias is None else linear.bias[:_PROBE_OUTPUTS]
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(max(_PROBE_ROWS) + 7, weight.shape[1], generator=generator).to(weight.device, weight.dtype)  # [24, in]
    full = F.linear(x, weight, bias)  # [24, out]
    for rows in _PROBE_ROWS:
        given = x[:1].expand(2, -1) if rows == 1 and single_as_two else x[:rows]
        if not torch.equal(F.linear(given, weight, bias)[:rows], full[:rows]):
            return False
    return True


def _distinct_shapes(linears: list[torch.nn.Linear]) -> list[torch.nn.Linear]:
    """One layer per (in, out, bias or not, dtype): kernels are chosen by shape, not by values."""
    seen: dict[tuple, torch.nn.Linear] = {}
    for m in linears:
        seen.setdefault((m.in_features, m.out_features, m.bias is not None, m.weight.dtype), m)
    return list(seen.values())


def use_exact_attention(model: torch.nn.Module) -> bool:
    """Switch `model` to exact attention; False when the model does not take pluggable attention."""
    AttentionInterface.register(NAME, exact_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    config = getattr(model, "config", None)
    if config is None or not getattr(model, "_supports_attention_backend", False):
        return False
    if config._attn_implementation != NAME:
        model.set_attn_implementation(NAME)
    return config._attn_implementation == NAME
