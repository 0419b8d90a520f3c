"""bf16 on a CPU that emulates it: decode in bf16, compute prompt chunks in float32.

Without native bf16 (avx512_bf16 or AMX), PyTorch's bf16 matrix product is fast for one row and
slow for several: bf16 costs a decoding step less than float32 does, and a prompt several times as
much (`guidecode bench passes` measures both on the machine at hand; docs/exactness.md has the
figures). Here a pass wider than decoding size (decoders/linear_route.py: a prompt chunk) runs
its linear layers in float32 (the weights converted for the call and dropped after it, so the
model's memory stays bf16's) and rounds their outputs back to bf16. Decoding-size passes run the
engine's own row kernel either way.

Why this keeps speculation lossless: a prompt is prefilled the same way whether or not the
decoding after it speculates, so only steps and verifications need to agree with each other, and
those never take this route. What it changes: a prompt's keys and values are those of a float32
product rounded to bf16, where the emulated bf16 product gave its own rounding; the text can
differ from the unconverted model's at near-ties, as between any two machines.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

# (x, weight, bias) -> x @ weight.T + bias
Product = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively on `device` (any CUDA GPU here counts)."""
    if device.type != "cpu":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def float32_product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, product: Product = F.linear) -> torch.Tensor:
    """A bf16 linear layer computed in float32 by `product` and rounded back: x [..., rows, in] ->
    [..., rows, out]."""
    fp32_bias = None if bias is None else bias.float()
    return product(x.float(), weight.float(), fp32_bias).to(x.dtype)
