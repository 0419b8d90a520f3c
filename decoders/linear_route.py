"""Which code computes a model's linear layers, by the size of the pass.

Speculation is lossless only if a pass over k tokens gives each token the logits a single step
gives, bit for bit. Vendor GEMMs do not promise that: oneDNN picks its kernel by row count (on
the AMX Xeon, bf16 rows disagree at various counts from 1 to 36 depending on the layer; on the
avx512_bf16 EPYC one row took a GEMV whose order differs; in fp32 on the AVX2 EPYC rows agree
only at multiples of 4). So the engine does not ask what a library happens to do on this CPU:

- Decoding-size passes (at most `MAX_ROWS` rows: steps, drafted trees, beams side by side, the
  draft model's steps, short prompts) on a CPU run decoders/kernels/linear_rows.cpp, whose
  reduction order per output depends on the layer's input size alone (exact by construction).
  Where that kernel could not be built, such passes run one row at a time through PyTorch: every
  row then takes the very call a single step takes.
- Wider passes (prompt chunks) run PyTorch's GEMM (AMX/oneDNN where present) on column blocks,
  each planned for one thread (decoders/kernels/wide_linear.cpp): a prompt is prefilled alike with
  or without speculation, and with any number of threads. Where bf16 is emulated they run in
  float32 (decoders/emulated_bf16.py).
- On a GPU every pass runs PyTorch's own kernels: cuBLAS chooses by shape, so `Engine.exact`
  finds out by running and speculation stays off where rows disagree.

`decoding_rows_agree` checks the promise on a model's own layer shapes for every row count from 1
to `MAX_ROWS`; the engine runs it before it lets speculation on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .emulated_bf16 import float32_product, native_bf16
from .invariant import EXACT_MAX_QUERIES
from .quant.linear import MAX_ROWS as QUANT_MAX_ROWS
from .quant.linear import QuantLinear
from .row_kernel import RowKernel, load, wide_linear

# The widest decoding-size pass; attention is exact for as many queries (decoders/invariant.py).
MAX_ROWS = EXACT_MAX_QUERIES
assert QUANT_MAX_ROWS == MAX_ROWS
# The output layer's columns the check tries (its first ones): each column is computed alone, so a
# slice runs every path the whole layer runs, at 1/18 of the 150k-token layer's cost.
CHECKED_OUTPUTS = 8192
# The attribute of a routed nn.Linear that holds its route.
ROUTE = "_guidecode_route"


@dataclass(frozen=True)
class LinearRoute:
    """Shared by a model's linear layers."""

    kernel: RowKernel | None  # decoding-size passes on a CPU; None: one row at a time
    why_no_kernel: str = ""
    upcast_wide: bool = False  # bf16 passes wider than MAX_ROWS computed in float32 (emulated bf16)

    def describe(self) -> str:
        if self.kernel is not None:
            return f"decoding-size passes: guidecode's row kernel ({self.kernel.name})"
        return f"decoding-size passes: one row at a time ({self.why_no_kernel})"

    def linear(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        """x: [..., rows, in] -> [..., rows, out]."""
        rows = x.shape[:-1].numel()
        if x.device.type != "cpu":
            return F.linear(x, weight, bias)
        if rows > MAX_ROWS:
            # Without the library (no compiler) the GEMM runs as PyTorch plans it for its threads.
            product = wide_linear if self.kernel is not None else F.linear
            wide_fp32 = self.upcast_wide and weight.dtype == torch.bfloat16
            return float32_product(x, weight, bias, product) if wide_fp32 else product(x, weight, bias)
        if self.kernel is not None and weight.dtype in (torch.bfloat16, torch.float32):
            return self.kernel(x, weight, bias)
        return _row_by_row(x, weight, bias)


def _row_by_row(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    flat = x.reshape(-1, x.shape[-1])  # [rows, in]
    out = torch.cat([F.linear(flat[i : i + 1], weight, bias) for i in range(flat.shape[0])])  # [rows, out]
    return out.view(*x.shape[:-1], weight.shape[0])


def decide_route(model: torch.nn.Module, emulated: bool | None = None) -> LinearRoute:
    """The route for `model`'s linear layers on its device (decoders/preparation.py installs it:
    each nn.Linear gets it as `ROUTE` and `routed_forward` as its forward). `emulated` overrides
    the CPU's answer to whether bf16 is emulated here."""
    weight = next(model.parameters())
    built = load()
    if emulated is None:
        emulated = weight.device.type == "cpu" and not native_bf16(weight.device)
    return LinearRoute(built.kernel, built.why_not, upcast_wide=emulated)


def routed_forward(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """A routed layer's forward, bound to the layer."""
    return getattr(self, ROUTE).linear(x, self.weight, self.bias)


def decoding_rows_agree(model: torch.nn.Module) -> bool:
    """Whether each routed linear layer of `model` gives every row the same bits for every row
    count from 1 to MAX_ROWS (against one MAX_ROWS-row call). Seconds on a real model: the engine
    keeps the answer with the model's preparation (decoders/preparation.py)."""
    like = next(model.parameters())
    return all(_agrees(m, like) for m in _distinct_shapes(model))


@torch.inference_mode()
def _agrees(layer: torch.nn.Linear | QuantLinear, like: torch.Tensor) -> bool:
    """like: a tensor of the model's activation dtype and device."""
    compute, in_features = _checked_slice(layer)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, MAX_ROWS, in_features, generator=generator).to(like.device, like.dtype)  # [1, rows, in]
    full = compute(x)  # [1, MAX_ROWS, out]
    return all(torch.equal(compute(x[:, :rows]), full[:, :rows]) for rows in range(1, MAX_ROWS))


def _checked_slice(layer: torch.nn.Linear | QuantLinear):
    """The layer cut to its first CHECKED_OUTPUTS columns, as (x -> y, input size)."""
    if isinstance(layer, QuantLinear):
        cut = layer.first_columns(CHECKED_OUTPUTS)
        return cut, cut.in_features
    # As many columns modulo 4 as the whole layer: the last tile has the same width.
    columns = min(layer.out_features, CHECKED_OUTPUTS + layer.out_features % 4)
    weight = layer.weight[:columns]  # [out, in]
    bias = None if layer.bias is None else layer.bias[:columns]
    route: LinearRoute = getattr(layer, ROUTE)
    return (lambda x: route.linear(x, weight, bias)), weight.shape[1]


def _distinct_shapes(model: torch.nn.Module) -> list[torch.nn.Linear | QuantLinear]:
    """One layer per (in, out, bias or not, dtype or block format): the code a pass takes depends on those."""
    seen: dict[tuple, torch.nn.Linear | QuantLinear] = {}
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and ROUTE in vars(m):
            seen.setdefault((m.in_features, min(m.out_features, CHECKED_OUTPUTS), m.bias is not None, m.weight.dtype), m)
        elif isinstance(m, QuantLinear):
            seen.setdefault((m.in_features, min(m.out_features, CHECKED_OUTPUTS), m.bias is not None, m.form, m.mins is not None), m)
    return list(seen.values())
