"""A tensor's quantized values as integer codes with per-block scales, read from GGUF blocks.

Every format is brought to one form the kernel (decoders/kernels/quant_rows.cpp) takes:

    value[n, k] = scale[n, b] * (codes[n, k] - offset) - minv[n, b],   b = k // block
    scale[n, b] = d[n, b // per_super] * sub[n, b],   minv[n, b] = dmin[n, b // per_super] * mins[n, b]

with codes uint8 of `bits` bits, d and dmin float16, sub and mins int8 (absent: 1 and 0). For the
block formats below this form holds the file's values exactly (a float16 times a small integer is
exact in float32), in about the file's bytes, so the model runs on the very weights the file
stores. Other formats (and dense weights) are requantized to 8-bit codes per block of 32 (Q8_0's
rule): close, not identical, and `BlockCodes.exact` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

QK_K = 256  # values per k-quant super-block


@dataclass
class BlockCodes:
    codes: np.ndarray  # [N, K] uint8, each below 2**bits
    bits: int  # 4, 5, 6 or 8
    offset: int
    block: int  # 16 or 32
    d: np.ndarray  # [N, K // block // per_super] float16
    sub: np.ndarray | None = None  # [N, K // block] int8
    dmin: np.ndarray | None = None  # shaped as d, float16
    mins: np.ndarray | None = None  # shaped as sub, int8
    per_super: int = 1  # blocks per d (1 without sub-scales)
    exact: bool = True  # True: these are the source's values; False: requantized

    def scale(self) -> np.ndarray:
        """[N, K // block] float32 (exact products)."""
        d = np.repeat(self.d.astype(np.float32), self.per_super, axis=-1)
        return d if self.sub is None else d * self.sub.astype(np.float32)

    def minv(self) -> np.ndarray | None:
        if self.mins is None:
            return None
        assert self.dmin is not None  # minima come with their scale dmin
        return np.repeat(self.dmin.astype(np.float32), self.per_super, axis=-1) * self.mins.astype(np.float32)


def _f16(raw: np.ndarray) -> np.ndarray:
    """[blocks, 2] uint8 -> [blocks, 1] float16."""
    return np.ascontiguousarray(raw).view(np.float16)


def _q8_0(b: np.ndarray) -> BlockCodes:  # [blocks, 34]: d, 32 x int8
    codes = (b[:, 2:].view(np.int8).astype(np.int16) + 128).astype(np.uint8)
    return BlockCodes(codes, 8, 128, 32, _f16(b[:, :2]))


def _q4_0(b: np.ndarray) -> BlockCodes:  # [blocks, 18]: d, 16 bytes of nibbles (low: 0-15, high: 16-31)
    qs = b[:, 2:]
    return BlockCodes(np.concatenate([qs & 0x0F, qs >> 4], axis=1), 4, 8, 32, _f16(b[:, :2]))


def _q5_0(b: np.ndarray) -> BlockCodes:  # [blocks, 22]: d, 32 high bits, 16 bytes of nibbles
    qh = np.unpackbits(np.ascontiguousarray(b[:, 2:6]), axis=1, bitorder="little")  # [blocks, 32]
    qs = b[:, 6:]
    low = np.concatenate([qs & 0x0F, qs >> 4], axis=1)
    return BlockCodes(low | (qh << 4), 5, 16, 32, _f16(b[:, :2]))


def _k_scales(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Q4_K/Q5_K's 12 bytes -> 8 six-bit scales and 8 six-bit minima per super-block."""
    s = raw.reshape(-1, 3, 4)
    d, m, md = s[:, 0], s[:, 1], s[:, 2]
    sc = np.concatenate([d & 0x3F, (md & 0x0F) | ((d >> 2) & 0x30)], axis=1)
    mn = np.concatenate([m & 0x3F, (md >> 4) | ((m >> 2) & 0x30)], axis=1)
    return sc.astype(np.int8), mn.astype(np.int8)  # [blocks, 8] each, 0..63


def _k_minima(b: np.ndarray, codes: np.ndarray, bits: int) -> BlockCodes:
    sc, mn = _k_scales(b[:, 4:16])
    return BlockCodes(codes, bits, 0, 32, _f16(b[:, :2]), sc, _f16(b[:, 2:4]), mn, per_super=8)


def _q4_k(b: np.ndarray) -> BlockCodes:  # [blocks, 144]: d, dmin, 12 scale bytes, 128 nibble bytes
    qs = b[:, 16:].reshape(-1, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    return _k_minima(b, (qs & 0x0F).reshape(-1, QK_K), 4)


def _q5_k(b: np.ndarray) -> BlockCodes:  # [blocks, 176]: d, dmin, 12 scale bytes, 32 high-bit bytes, 128 nibble bytes
    ql = b[:, 48:].reshape(-1, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    qh = b[:, 16:48].reshape(-1, 1, 32) >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)
    return _k_minima(b, ((ql & 0x0F).reshape(-1, 8, 32) | ((qh & 1) << 4)).reshape(-1, QK_K), 5)


def _q6_k(b: np.ndarray) -> BlockCodes:  # [blocks, 210]: 128 low-nibble bytes, 64 high-bit bytes, 16 int8 scales, d
    ql = b[:, :128].reshape(-1, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    qh = b[:, 128:192].reshape(-1, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    codes = ((ql & 0x0F).reshape(-1, 2, 4, 32) | ((qh & 3) << 4)).reshape(-1, QK_K)
    return BlockCodes(codes, 6, 32, 16, _f16(b[:, 208:210]), b[:, 192:208].view(np.int8).copy(), per_super=16)


# GGML type number -> (bytes per block, values per block, reader)
_READERS = {
    8: (34, 32, _q8_0),
    2: (18, 32, _q4_0),
    6: (22, 32, _q5_0),
    12: (144, QK_K, _q4_k),
    13: (176, QK_K, _q5_k),
    14: (210, QK_K, _q6_k),
}


def reads_exactly(qtype: int) -> bool:
    return int(qtype) in _READERS


def from_gguf(data: np.ndarray, qtype: int, in_features: int) -> BlockCodes:
    """data: a GGUF tensor's bytes as [N, bytes per row] uint8 (GGUFReader's `data`) -> codes."""
    size, per_block, read = _READERS[int(qtype)]
    rows = data.shape[0]
    if in_features % per_block or data.shape[1] != in_features // per_block * size:
        raise ValueError(f"a row of {in_features} values does not fill whole {per_block}-value blocks of this type")
    got = read(np.ascontiguousarray(data).reshape(-1, size))
    per_row = lambda part: None if part is None else part.reshape(rows, -1)  # noqa: E731
    return BlockCodes(
        got.codes.reshape(rows, in_features),
        got.bits,
        got.offset,
        got.block,
        got.d.reshape(rows, -1),
        per_row(got.sub),
        per_row(got.dmin),
        per_row(got.mins),
        got.per_super,
        True,
    )


def from_dense(weight: torch.Tensor) -> BlockCodes:
    """[N, K] floats -> 8-bit codes per block of 32 (Q8_0's rule: d = max|w| / 127 as float16)."""
    w = weight.detach().to(torch.float32).cpu().reshape(weight.shape[0], -1, 32)  # [N, K/32, 32]
    d = (w.abs().amax(dim=-1) / 127).clamp(max=65504).to(torch.float16)  # [N, K/32]
    step = d.to(torch.float32)
    inverse = torch.where(step > 0, 1 / step, torch.zeros_like(step))
    q = torch.round(w * inverse.unsqueeze(-1)).clamp(-127, 127).to(torch.int16) + 128  # [N, K/32, 32]
    return BlockCodes(q.to(torch.uint8).reshape(weight.shape).numpy(), 8, 128, 32, d.numpy(), exact=False)


def values(codes: BlockCodes) -> np.ndarray:
    """The float32 values the codes stand for, [N, K] (for checks)."""
    n, k = codes.codes.shape
    c = codes.codes.astype(np.float32).reshape(n, k // codes.block, codes.block) - codes.offset
    v = c * codes.scale()[..., None]
    minv = codes.minv()
    if minv is not None:
        v = v - minv[..., None]
    return v.reshape(n, k)
