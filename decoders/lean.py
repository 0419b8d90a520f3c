"""Decoding-size passes through a Llama-family model's layers, without transformers' module machinery.

A decoding step of a small model on a CPU spends a large share of its time outside its weights:
transformers' forward runs output-capturing wrappers, keyword deprecation shims, mask builders,
hooks and output dataclasses around every layer, for one row. Here the same layers' own parameters
and submodules (the quantized or row-kernel linears, decoders/invariant.py's attention) run in a
plain loop: the same tensor operations in the same order, so the logits are transformers' bit for
bit. That is not assumed: the engine runs both on a probe (a step, a chain and a tree;
`Engine.lean`) and uses this path only where they agree; wider passes (prompt
chunks) always run transformers' forward.

Which models: the Llama layout that Qwen2, Llama and Mistral-style models share (RMSNorm, rotary
attention with optional q/k/v bias, a gated SiLU MLP), with full attention in every layer and
default rotary scaling; anything else keeps transformers' forward.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import torch
from transformers.cache_utils import Cache

from .interrupted import Interrupted
from .invariant import exact_attention, kernel_variant
from .quant.fused import SharedProjection
from .quant.linear import QuantLinear
from .row_kernel import load

# The decoder stacks whose layers are the plain Llama layout (class names, as transformers names them).
LAYOUTS = {"LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"}
NORMS = {"LlamaRMSNorm", "Qwen2RMSNorm", "MistralRMSNorm"}


# What this file reads of a model of LAYOUTS, as types: torch types every submodule or attribute
# read through a Module as `Tensor | Module`, so the model is viewed through these once (`_llama`).
class _Projection(Protocol):
    """A linear layer as the model's preparation leaves it: torch's Linear, a QuantLinear or a
    fused group's SharedProjection."""

    out_features: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class _Norm(Protocol):
    """One of NORMS."""

    weight: torch.Tensor
    variance_epsilon: float


class _Attention(torch.nn.Module):
    """The attributes read of a layer's attention; a Module, since exact_attention takes the module
    itself. A view for the type checker: never instantiated."""

    q_proj: _Projection
    k_proj: _Projection
    v_proj: _Projection
    o_proj: _Projection
    head_dim: int
    scaling: float


class _Mlp(Protocol):
    gate_proj: _Projection
    up_proj: _Projection
    down_proj: _Projection
    act_fn: Callable[[torch.Tensor], torch.Tensor]


class _DecoderLayer(Protocol):
    self_attn: _Attention
    mlp: _Mlp
    input_layernorm: _Norm
    post_attention_layernorm: _Norm

    def modules(self) -> Iterator[torch.nn.Module]: ...


class _Stack(Protocol):
    """The decoder stack under the *ForCausalLM (its `model`)."""

    embed_tokens: Callable[[torch.Tensor], torch.Tensor]  # [1, k] -> [1, k, hidden]
    rotary_emb: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    layers: Sequence[_DecoderLayer]
    norm: _Norm


class _CausalLM(Protocol):
    model: _Stack
    lm_head: Callable[[torch.Tensor], torch.Tensor]  # [..., hidden] -> [..., vocab]


def _llama(model: torch.nn.Module) -> _CausalLM:
    """`model` (one of LAYOUTS, as LeanDecoder.for_model checked) as the layout it has."""
    return cast(_CausalLM, model)


def _rms_norm(norm: _Norm, x: torch.Tensor) -> torch.Tensor:
    """transformers' Llama RMSNorm, operation for operation."""
    dtype = x.dtype
    h = x.to(torch.float32)
    variance = h.pow(2).mean(-1, keepdim=True)
    h = h * torch.rsqrt(variance + norm.variance_epsilon)
    return norm.weight * h.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


_Linear = tuple  # (parts, form, bias) of one QuantLinear, as decoders/kernels/lean_layer.cpp takes them


def _linear_args(layer: QuantLinear) -> _Linear:
    return layer._parts(), layer._form(), layer.bias


def _projections(modules: list[_Projection]) -> tuple[list[_Linear], bool] | None:
    """The arguments for projections of one input (q, k, v or gate, up): the fused layer's when
    they are one group's consecutive columns (decoders/quant/fused.py), else each layer's; None
    where one is neither a QuantLinear nor such a share."""
    shares = [m for m in modules if isinstance(m, SharedProjection)]
    if len(shares) == len(modules):
        fused = shares[0].group[0].layer
        one_group = all(m.group[0].layer is fused for m in shares)
        in_order = [m.start for m in shares] == [0, *(m.end for m in shares[:-1])] and shares[-1].end == fused.out_features
        return ([_linear_args(fused)] * len(shares), True) if one_group and in_order else None
    quantized = [m for m in modules if isinstance(m, QuantLinear)]
    if len(quantized) == len(modules):
        return [_linear_args(m) for m in quantized], False
    return None


@dataclass(frozen=True)
class _QuantLayer:
    """One layer's arguments for decoders/kernels/lean_layer.cpp: every projection quantized."""

    qkv: list[_Linear]
    qkv_fused: bool
    o: _Linear
    gate_up: list[_Linear]
    gate_up_fused: bool
    down: _Linear
    heads: int
    kv_heads: int
    head_dim: int
    hidden: int
    intermediate: int
    variant: int

    @staticmethod
    def of(layer: _DecoderLayer) -> _QuantLayer | None:
        attn, mlp = layer.self_attn, layer.mlp
        qkv = _projections([attn.q_proj, attn.k_proj, attn.v_proj])
        gate_up = _projections([mlp.gate_proj, mlp.up_proj])
        o, down = attn.o_proj, mlp.down_proj
        if qkv is None or gate_up is None or not (isinstance(o, QuantLinear) and isinstance(down, QuantLinear)):
            return None
        kernels = {m.kernel for m in layer.modules() if isinstance(m, QuantLinear)}
        if len(kernels) != 1:
            return None
        return _QuantLayer(
            qkv[0],
            qkv[1],
            _linear_args(o),
            gate_up[0],
            gate_up[1],
            _linear_args(down),
            heads=attn.q_proj.out_features // attn.head_dim,
            kv_heads=attn.k_proj.out_features // attn.head_dim,
            head_dim=attn.head_dim,
            hidden=attn.o_proj.out_features,
            intermediate=mlp.gate_proj.out_features,
            variant=kernels.pop().variant,
        )


@dataclass
class LeanDecoder:
    model: torch.nn.Module  # a *ForCausalLM of one of LAYOUTS
    # Per layer, where every projection is quantized and the C++ layer is built: the arguments
    # for decoders/kernels/lean_layer.cpp; else the Python loop below.
    quantized: list[_QuantLayer] | None = None

    @staticmethod
    def for_model(model: torch.nn.Module) -> LeanDecoder | None:
        """The lean path for `model`, or None where its layout is not the plain Llama one."""
        config = getattr(model, "config", None)
        inner = getattr(model, "model", None)
        if type(model).__name__ not in LAYOUTS or config is None or inner is None:
            return None
        layer_types = getattr(config, "layer_types", None) or ["full_attention"]
        rope = getattr(inner, "rotary_emb", None)
        plain = (
            all(kind == "full_attention" for kind in layer_types)
            and getattr(config, "hidden_act", None) == "silu"
            and getattr(rope, "rope_type", None) == "default"
            and getattr(config, "pretraining_tp", 1) == 1
            and type(inner.norm).__name__ in NORMS
            and all(type(layer.input_layernorm).__name__ in NORMS for layer in inner.layers)
        )
        if not plain:
            return None
        layers = [_QuantLayer.of(layer) for layer in inner.layers] if load().kernel is not None else []
        quantized = [q for q in layers if q is not None]
        return LeanDecoder(model, quantized if quantized and len(quantized) == len(layers) else None)

    @torch.inference_mode()
    def forward(
        self,
        input_ids: torch.Tensor,  # [1, k]
        cache: Cache,
        positions: torch.Tensor | None,  # [1, k]; None: after the cache, consecutively
        visible: torch.Tensor | None,  # [1, 1, k, cached + k] bool; None: causal
        last_only: bool,
        cancel: threading.Event | None,
    ) -> torch.Tensor:
        """Logits [1, k, vocab] (or [1, 1, vocab] with `last_only`), in the model's dtype; appends
        to `cache` as transformers' forward does. Raises Interrupted when `cancel` is set
        between layers."""
        llama, k = _llama(self.model), input_ids.shape[1]
        inner = llama.model
        h = inner.embed_tokens(input_ids)  # [1, k, hidden]
        if positions is None:
            positions = (torch.arange(k, device=h.device) + cache.get_seq_length())[None]
        cos, sin = inner.rotary_emb(h, positions)  # [1, k, head_dim] each
        cos, sin = cos[:, None], sin[:, None]  # [1, 1, k, head_dim]
        for index, layer in enumerate(inner.layers):
            if cancel is not None and cancel.is_set():
                raise Interrupted()
            if self.quantized is not None:
                h = self._quant_layer(layer, self.quantized[index], index, h, cos, sin, cache, visible)
            else:
                h = self._layer(layer, index, h, cos, sin, cache, visible)
        h = _rms_norm(inner.norm, h)
        if last_only:
            h = h[:, -1:]
        return llama.lm_head(h)

    def _layer(
        self,
        layer: _DecoderLayer,
        index: int,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: Cache,
        visible: torch.Tensor | None,
    ) -> torch.Tensor:
        attn = layer.self_attn
        x = _rms_norm(layer.input_layernorm, h)
        shape = (*h.shape[:-1], -1, attn.head_dim)
        q = attn.q_proj(x).view(shape).transpose(1, 2)  # [1, heads, k, head_dim]
        key = attn.k_proj(x).view(shape).transpose(1, 2)  # [1, kv_heads, k, head_dim]
        value = attn.v_proj(x).view(shape).transpose(1, 2)
        q = (q * cos) + (_rotate_half(q) * sin)
        key = (key * cos) + (_rotate_half(key) * sin)
        keys, values = cache.update(key, value, index)
        return self._layer_after_cache(layer, h, q, keys, values, visible)

    def _layer_after_cache(
        self,
        layer: _DecoderLayer,
        h: torch.Tensor,
        q: torch.Tensor,
        keys: torch.Tensor,
        values: torch.Tensor,
        visible: torch.Tensor | None,
    ) -> torch.Tensor:
        attn, mlp = layer.self_attn, layer.mlp
        out, _ = exact_attention(attn, q, keys, values, visible, scaling=attn.scaling)  # [1, k, heads, head_dim]
        h = h + attn.o_proj(out.reshape(*h.shape[:-1], -1).contiguous())
        x = _rms_norm(layer.post_attention_layernorm, h)
        return h + mlp.down_proj(mlp.act_fn(mlp.gate_proj(x)) * mlp.up_proj(x))

    def _quant_layer(
        self,
        layer: _DecoderLayer,
        args: _QuantLayer,
        index: int,
        h: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        cache: Cache,
        visible: torch.Tensor | None,
    ) -> torch.Tensor:
        """_layer's operations, in two C++ calls around the cache update."""
        norm1, norm2 = layer.input_layernorm, layer.post_attention_layernorm
        q, key, value = torch.ops.guidecode.lean_qkv(
            h,
            norm1.weight,
            norm1.variance_epsilon,
            *args.qkv[0],
            *args.qkv[1],
            *args.qkv[2],
            cos,
            sin,
            [args.heads, args.kv_heads, args.head_dim, int(args.qkv_fused), args.variant],
        )
        keys, values = cache.update(key, value, index)
        attention = kernel_variant(q, keys, values, visible)
        if attention is None:  # a layout the attention kernel does not take: the Python layer
            return self._layer_after_cache(layer, h, q, keys, values, visible)
        return torch.ops.guidecode.lean_rest(
            h,
            q,
            keys,
            values,
            visible,
            layer.self_attn.scaling,
            *args.o,
            norm2.weight,
            norm2.variance_epsilon,
            *args.gate_up[0],
            *args.gate_up[1],
            *args.down,
            [args.hidden, args.intermediate, int(args.gate_up_fused), args.variant, attention],
        )
