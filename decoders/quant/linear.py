"""Linear layers that run from packed quantized weights (decoders/kernels/quant_rows.cpp).

Decoding-size passes (at most `MAX_ROWS` rows) run the kernel, whose rows do not depend on how many
run together and whose bits do not depend on the CPU; the weights are read as 8-bit codes, about a
quarter of float32's bytes and half of bf16's. Wider passes (prompt chunks) unpack the layer into a
transient dense matrix and multiply with PyTorch's GEMM (AMX/oneDNN where present), in column
blocks each planned for one thread (decoders/kernels/wide_linear.cpp): a prompt is prefilled
alike with or without speculation and with any number of threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import torch

from .blocks import BlockCodes

COLUMNS = 16  # output columns per packed group (the kernel's layout)
MAX_ROWS = 64  # = decoders.linear_route.MAX_ROWS (kept here: that module imports this one)
# Elements of the dense buffer a wide pass unpacks a layer into: 64 MB of bf16 holds any layer of
# the 0.5B and 1.5B models but their output layer, which is unpacked in column slices.
DENSE_SCRATCH = 32 * 2**20
_local = threading.local()


def _scratch(dtype: torch.dtype, numel: int) -> torch.Tensor:
    """This thread's reusable 1-D buffer of `dtype` with at least `numel` elements."""
    buffers = _local.__dict__.setdefault("buffers", {})
    if dtype not in buffers or buffers[dtype].numel() < numel:
        buffers[dtype] = torch.empty(numel, dtype=dtype)
    return buffers[dtype][:numel]


def wide_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """A prompt-size pass's product (decoders/row_kernel.py's `wide_linear` is this): the op, whose
    column blocks give the same bits on any thread count. A caller recording gradients gets
    PyTorch's product, which has a backward (the op has none)."""
    tensors = (x, weight) if bias is None else (x, weight, bias)
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return torch.nn.functional.linear(x, weight, bias)
    return torch.ops.guidecode.wide_linear(x, weight, bias)


@dataclass(frozen=True)
class QuantKernel:
    variant: int

    @property
    def name(self) -> str:
        return ("generic", "avx2", "avx512vnni")[self.variant]

    @staticmethod
    def runnable() -> list[QuantKernel]:
        """Every variant this CPU runs (after decoders.row_kernel.load()), slowest first."""
        return [QuantKernel(v) for v in torch.ops.guidecode.quant_rows_variants()]


PARTS = ("codes", "nibbles", "planes", "d", "sub", "dmin", "mins")  # the kernel's order
_ABSENT = torch.empty(0, dtype=torch.uint8)  # an absent part, as the kernel reads it (never written)


def pack(codes: BlockCodes) -> dict[str, torch.Tensor]:
    """BlockCodes -> the kernel's tensors, by name (decoders/kernels/quant_rows.cpp's header)."""
    n, k = codes.codes.shape
    groups = -(-n // COLUMNS)
    pad = groups * COLUMNS - n
    # Padded columns get the offset as code and zero scales: they compute zeros and are cut off.
    c = np.pad(codes.codes, ((0, pad), (0, 0)), constant_values=codes.offset)
    rows = np.ascontiguousarray(c.reshape(groups, COLUMNS, k // 4, 4).transpose(0, 2, 1, 3)).reshape(groups, k // 4, 64)
    packed: dict[str, np.ndarray] = {}
    if codes.bits == 8:
        packed["codes"] = rows
    else:
        low = rows & 0x0F
        packed["nibbles"] = low[:, 0::2] | (low[:, 1::2] << 4)  # [G, K/8, 64]
        if codes.bits > 4:
            planes = [np.packbits((rows >> (4 + q)) & 1, axis=-1, bitorder="little") for q in range(codes.bits - 4)]
            packed["planes"] = np.stack(planes, axis=2)  # [G, K/4, bits-4, 8]
    for name in ("d", "sub", "dmin", "mins"):
        part = getattr(codes, name)
        if part is not None:
            p = np.pad(part, ((0, pad), (0, 0)))
            packed[name] = p.reshape(groups, COLUMNS, -1).transpose(0, 2, 1)  # [G, blocks, 16]
    return {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in packed.items()}


def form(codes: BlockCodes) -> tuple[int, int, int, int]:
    """(bits, block, offset, blocks per super-block): the numbers the kernel takes beside the parts."""
    return codes.bits, codes.block, codes.offset, codes.per_super


def quantized_inputs(x: torch.Tensor, kernel: QuantKernel | None = None) -> torch.Tensor:
    """x [..., K] rounded to the kernel's input codes (per block of 32: scale max|x| / 127, codes
    round(x / scale), ties to even), as their values in x's dtype; the kernel's own rounding code
    (`kernel`: which variant's; default the fastest this CPU runs)."""
    kernel = kernel or QuantKernel.runnable()[-1]
    return torch.ops.guidecode.quant_inputs(x, kernel.variant)


class QuantLinear(torch.nn.Module):
    """y = x W^T + b with W held as packed codes (see blocks.py for what they stand for)."""

    # Buffers (register_buffer in __init__), declared for the type checker, which otherwise reads
    # them through Module.__getattr__ as Tensor | Module. `d` is always present.
    d: torch.Tensor
    bias: torch.Tensor | None
    # Only on a fused group's layer: its members' (name, first column, end), set by
    # fused.install_group and read with getattr.
    members: list[list[str | int]]

    def __init__(
        self, packed: dict[str, torch.Tensor], form: tuple[int, int, int, int], out_features: int, bias: torch.Tensor | None, kernel: QuantKernel, exact: bool
    ):
        super().__init__()
        self.bits, self.block, self.offset, self.per_super = form
        self.in_features = packed["d"].shape[1] * self.block * self.per_super
        self.out_features = out_features
        self.kernel = kernel
        self.exact = exact  # whether the codes are the source file's own values
        for name in PARTS:
            self.register_buffer(name, packed.get(name))
        self.register_buffer("bias", bias)

    @property
    def form(self) -> tuple[int, int, int, int]:
        return self.bits, self.block, self.offset, self.per_super

    def _parts(self) -> list[torch.Tensor]:
        return [part if (part := getattr(self, name)) is not None else _ABSENT for name in PARTS]

    def _form(self) -> list[int]:
        return [self.bits, self.block, self.offset, self.per_super, self.in_features]

    @property
    def weight_bytes(self) -> int:
        """Bytes a pass streams for this layer's weights."""
        return sum(t.numel() * t.element_size() for t in self._parts())

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        if x.shape[:-1].numel() <= MAX_ROWS:
            return torch.ops.guidecode.quant_rows(x, self._parts(), self._form(), self.bias, self.out_features, self.kernel.variant)
        # The inputs quantized as the kernel quantizes them, so a prompt computes (up to the GEMM's
        # rounding) what the same tokens' steps compute: a completion then hardly depends on which
        # part of its prompt an earlier request had already prefilled.
        xq = quantized_inputs(x, self.kernel)
        bias = None if self.bias is None else self.bias.to(x.dtype)
        step = max(COLUMNS, DENSE_SCRATCH // self.in_features // COLUMNS * COLUMNS)  # columns unpacked at a time
        outs = []
        for start in range(0, self.out_features, step):
            part = self.columns(start, min(start + step, self.out_features))
            outs.append(wide_product(xq, part.dense(x.dtype), None if bias is None else bias[start : start + part.out_features]))
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=-1)

    def dense(self, dtype: torch.dtype) -> torch.Tensor:
        """The weights as an [out, in] matrix of `dtype`: a view of this thread's reused buffer, valid
        until the next call (a prompt pass unpacks one layer at a time, never all of them)."""
        groups = self.d.shape[0]
        buffer = _scratch(dtype, groups * COLUMNS * self.in_features).view(groups * COLUMNS, self.in_features)
        torch.ops.guidecode.quant_dequantize_into(self._parts(), self._form(), buffer, self.kernel.variant)
        return buffer[: self.out_features]

    def columns(self, start: int, end: int) -> QuantLinear:
        """The same layer cut to outputs [start, end); start a multiple of 16 (views, no copies)."""
        if (start, end) == (0, self.out_features):
            return self
        assert start % COLUMNS == 0, start
        g0, g1 = start // COLUMNS, -(-end // COLUMNS)
        cut = {name: getattr(self, name)[g0:g1] for name in PARTS if getattr(self, name) is not None}
        bias = None if self.bias is None else self.bias[start:end]
        return QuantLinear(cut, self.form, end - start, bias, self.kernel, self.exact)

    def first_columns(self, columns: int) -> QuantLinear:
        """The same layer cut to its first `columns` outputs."""
        return self.columns(0, min(columns, self.out_features))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bits={self.bits}, block={self.block}, kernel={self.kernel.name}"
