"""bf16 on a CPU that emulates it: decode in bf16, compute prompt chunks in float32.

Without native bf16 (avx512_bf16 or AMX), PyTorch's bf16 matrix product is fast for one row and
slow for several. Measured with `guidecode bench passes` (the 0.5B model, 300 tokens of prompt,
an AVX2-only AMD EPYC, 2 threads, median of 5; `benchmarks/results/passes-avx2-s12.json`):

| pass | float32 | bf16 as is | bf16, prompts in float32 |
|---|---:|---:|---:|
| the 300-token prompt | 2.4 s | 11.4 s | 2.9 s |
| 1 token (a decoding step) | 210 ms | 85 ms | 102 ms |
| 16 tokens | 490 ms | 953 ms | 949 ms |

So bf16 costs a decoding step less than half of float32's and a prompt 4.7 times as much. Here a
prompt chunk of more than `MIN_ROWS` rows runs its linear layers in float32 (the weights converted
for the call and dropped after it, so the model's memory stays bf16's) and rounds their outputs
back to bf16. Steps, drafted trees and every other pass run in bf16 as is.

Why this keeps speculation lossless: a prompt is prefilled the same way whether or not the
decoding after it speculates, so only steps and verifications need to agree with each other, and
bf16 rows there agree at any row count (decoders/invariant.py probes it; `Engine.exact` checks the
whole model). What it changes: a prompt's keys and values are those of a float32 product rounded
to bf16, where the emulated bf16 product gave its own rounding; the text can differ from the
unconverted model's at near-ties, as between any two machines.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from types import MethodType
from typing import Iterator

import torch
import torch.nn.functional as F

from .invariant import decided_once

# At 8 rows bf16 as is (475 ms) and float32 with the conversion (516 ms) cost about the same.
MIN_ROWS = 8


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 matrix products run natively on `device` (any CUDA GPU here counts)."""
    if device.type != "cpu":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class PromptChunks:
    """Shared by a model's linear layers: whether the pass in flight is a prompt chunk."""

    in_flight: bool = False

    @contextmanager
    def chunk(self, is_prompt: bool) -> Iterator[None]:
        self.in_flight = is_prompt
        try:
            yield
        finally:
            self.in_flight = False


def upcast_prompt_chunks(model: torch.nn.Module, emulated: bool | None = None) -> PromptChunks | None:
    """Where `model` is bf16 on a CPU without native bf16, route its prompt chunks' linear layers
    through float32; None where nothing changes. Decided once per model, dtype and device, by the
    first call: `emulated` overrides the CPU's answer (True: route anyway; False: never)."""
    def decide() -> PromptChunks | None:
        weight = next(model.parameters())
        routed = emulated if emulated is not None else weight.dtype == torch.bfloat16 and not native_bf16(weight.device)
        return _route(model) if routed else None

    # A deep copy gets its own state, and its layers point at that.
    return decided_once(model, "_guidecode_prompt_chunks", decide)


def _route(model: torch.nn.Module) -> PromptChunks:
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if linears and hasattr(linears[0], "_guidecode_chunks"):  # routed before, in another dtype
        return linears[0]._guidecode_chunks
    state = PromptChunks()
    for module in linears:
        module._guidecode_chunks = state
        # Replaces the call, not hooked around it: the bf16 product is what must not run.
        module.forward = MethodType(_linear, module)
    return state


def _linear(self: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:  # x: [..., rows, in_features]
    wide = self._guidecode_chunks.in_flight and x.shape[:-1].numel() > MIN_ROWS
    if not wide or self.weight.dtype != torch.bfloat16:
        return F.linear(x, self.weight, self.bias)
    bias = None if self.bias is None else self.bias.float()
    return F.linear(x.float(), self.weight.float(), bias).to(x.dtype)  # [..., rows, out_features]
