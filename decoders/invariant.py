"""Attention whose answer for one query does not depend on which other queries ran with it.

Speculation is lossless only if verifying k drafted tokens in one forward pass gives the same
logits, bit for bit, as k single-token steps. Two parts of a forward pass decide that: the
linear layers (decoders/linear_route.py) and attention, made exact here. The fused SDPA kernel's
blocking and its GQA paths depend on the query length. Here the scores, softmax and weighted sum
run in float64 for the short query blocks of decoding and verification, each query alone:
decoders/kernels/attention.cpp on CPUs (one fixed order of operations per query, the same bits on
every variant), PyTorch's float64 operations elsewhere. Every product of two bf16/fp32 values is
exact in float64 and the sums carry ~1e-16 relative error, far below the resolution of the bf16
or fp32 result, so the rounded output is the same whichever keys are masked out around a query
and however many queries share the call: a drafted tree's nodes get exactly what sequential steps
get. Long blocks (prompt prefill) go to PyTorch's SDPA, which both plain and speculative decoding
share.

Whether a loaded model is invariant is checked by running it (`decoders.engine.Engine.exact`), not
assumed; speculation is on by default only where that check passed.
"""

from __future__ import annotations

from functools import cache

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from .row_kernel import load

NAME = "guidecode_exact"
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
    scale = scaling if scaling is not None else head_dim**-0.5
    if (variant := kernel_variant(query, key, value, attention_mask)) is not None:
        # [batch, q, heads, head_dim]
        return torch.ops.guidecode.exact_attention(query, key, value, attention_mask, scale, variant), None
    return _exact_attention_aten(query, key, value, attention_mask, scale)


def kernel_variant(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None) -> int | None:
    """The fastest variant of decoders/kernels/attention.cpp for this call; None where it does not
    apply (another device, an additive mask, a strided head dimension) or could not be built."""
    if query.device.type != "cpu" or (attention_mask is not None and attention_mask.dtype != torch.bool):
        return None
    if any(t.stride(-1) != 1 for t in (query, key, value)):
        return None
    return _fastest_variant()


@cache
def _fastest_variant() -> int | None:
    """Asked once per process: it is on the path of every layer of every step."""
    if load().kernel is None:
        return None
    return torch.ops.guidecode.exact_attention_variants()[-1]


def _exact_attention_aten(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None, scale: float
) -> tuple[torch.Tensor, None]:
    """The same computation in PyTorch's float64 operations: for GPUs, additive masks, and CPUs
    where the kernel could not be built. Exact for the same reason; its sums run in another order,
    so its bits are not promised to be the kernel's."""
    batch, heads, q_len, head_dim = query.shape
    kv_heads, kv_len = key.shape[1], key.shape[2]
    group = heads // kv_heads  # query heads [h * group, (h + 1) * group) read kv head h
    q = query.reshape(batch, kv_heads, group * q_len, head_dim).double()
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


def register_exact_attention() -> None:
    """Make `exact_attention` known to transformers as NAME (decoders/preparation.py switches a
    model to it). The registries are process-wide; an entry under this name changes no model that
    does not ask for it, and registering again replaces it with the same functions."""
    AttentionInterface.register(NAME, exact_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
