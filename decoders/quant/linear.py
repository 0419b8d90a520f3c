"""Linear layers that run from packed quantized weights (decoders/kernels/quant_rows.cpp).

Decoding-size passes (at most `MAX_ROWS` rows) run the kernel, whose rows do not depend on how many
run together and whose bits do not depend on the CPU; the weights are read as 8-bit codes, about a
quarter of float32's bytes and half of bf16's. Wider passes (prompt chunks) unpack the layer into a
transient dense matrix and multiply with PyTorch's GEMM (AMX/oneDNN where present): a prompt is
prefilled alike with or without speculation, so only its speed matters there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .blocks import BlockCodes

COLUMNS = 16  # output columns per packed group (the kernel's layout)
MAX_ROWS = 64  # = decoders.linear_route.MAX_ROWS (kept here: that module imports this one)


@dataclass(frozen=True)
class QuantKernel:
    variant: int

    @property
    def name(self) -> str:
        return ("generic", "avx2", "avx512vnni")[self.variant]

    @staticmethod
    def runnable() -> list["QuantKernel"]:
        """Every variant this CPU runs (after decoders.row_kernel.load()), slowest first."""
        return [QuantKernel(v) for v in torch.ops.guidecode.quant_rows_variants()]


def pack(codes: BlockCodes) -> dict[str, torch.Tensor]:
    """BlockCodes -> the kernel's tensors: codes [G, K/4, 16, 4] uint8, scale (and minv) [G, K/block, 16]."""
    n, k = codes.codes.shape
    groups = -(-n // COLUMNS)
    pad = groups * COLUMNS - n
    # Padded columns get the offset as code and zero scale: they compute zeros and are cut off.
    c = np.pad(codes.codes, ((0, pad), (0, 0)), constant_values=codes.offset)
    packed = {"codes": torch.from_numpy(np.ascontiguousarray(c.reshape(groups, COLUMNS, k // 4, 4).transpose(0, 2, 1, 3)))}
    for name in ("scale", "minv"):
        part = getattr(codes, name)
        if part is not None:
            p = np.pad(part.astype(np.float32), ((0, pad), (0, 0)))
            packed[name] = torch.from_numpy(np.ascontiguousarray(p.reshape(groups, COLUMNS, -1).transpose(0, 2, 1)))
    return packed


def quantized_inputs(x: torch.Tensor) -> torch.Tensor:
    """x [..., K] rounded to the kernel's input codes (per block of 32: scale max|x| / 127, codes
    round(x / scale), ties to even), as their values in x's dtype; the kernel's own rounding code."""
    return torch.ops.guidecode.quant_inputs(x)


class QuantLinear(torch.nn.Module):
    """y = x W^T + b with W held as packed codes (see blocks.py for what they stand for)."""

    def __init__(self, packed: dict[str, torch.Tensor], offset: int, block: int, out_features: int, bias: torch.Tensor | None, kernel: QuantKernel, exact: bool):
        super().__init__()
        self.in_features = packed["codes"].shape[1] * 4
        self.out_features = out_features
        self.offset, self.block, self.kernel = offset, block, kernel
        self.exact = exact  # whether the codes are the source file's own values
        self.register_buffer("codes", packed["codes"])
        self.register_buffer("scale", packed["scale"])
        self.register_buffer("minv", packed.get("minv"))
        self.register_buffer("bias", bias)

    @property
    def weight_bytes(self) -> int:
        """Bytes a pass streams for this layer's weights."""
        return sum(t.numel() * t.element_size() for t in (self.codes, self.scale, self.minv) if t is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        if x.shape[:-1].numel() <= MAX_ROWS:
            return torch.ops.guidecode.quant_rows(
                x, self.codes, self.scale, self.minv, self.bias, self.offset, self.block, self.out_features, self.kernel.variant
            )
        # The inputs quantized as the kernel quantizes them, so a prompt computes (up to the GEMM's
        # rounding) what the same tokens' steps compute: a completion then hardly depends on which
        # part of its prompt an earlier request had already prefilled.
        return F.linear(quantized_inputs(x), self.dense(x.dtype), self.bias)

    def dense(self, dtype: torch.dtype) -> torch.Tensor:
        """The weights as a transient [out, in] matrix of `dtype`."""
        return torch.ops.guidecode.quant_dequantize(self.codes, self.scale, self.minv, self.offset, self.block, self.out_features, dtype)

    def first_columns(self, columns: int) -> "QuantLinear":
        """The same layer cut to its first `columns` outputs (rounded up to whole groups)."""
        groups = -(-min(columns, self.out_features) // COLUMNS)
        cut = {"codes": self.codes[:groups], "scale": self.scale[:groups]}
        if self.minv is not None:
            cut["minv"] = self.minv[:groups]
        bias = None if self.bias is None else self.bias[: groups * COLUMNS][:columns]
        out = min(columns, self.out_features)
        return QuantLinear(cut, self.offset, self.block, out, bias, self.kernel, self.exact)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, block={self.block}, kernel={self.kernel.name}"
