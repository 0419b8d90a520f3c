"""Bytes of weights a decoding step reads, and how fast this machine reads memory.

A batch-of-one decoding step multiplies one row of activations by every linear layer's weights:
each weight is read once and used once, so the step's time is bounded below by the bytes read
over the memory bandwidth. `guidecode bench speed` reports both, so a method's decoding speed
can be read as a share of what the memory allows (speed_summary.MethodSummary.bandwidth_share).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch

# llama.cpp's names: the embedding (one row read per token) and the output layer (read whole).
EMBEDDING = "token_embd.weight"
OUTPUT = "output.weight"


def streamed_bytes(model: torch.nn.Module) -> int:
    """Bytes of the linear layers' weights (and biases) one decoding step reads. The embedding is
    left out: a step reads one of its rows. A tensor shared by layers (tied weights) counts once."""
    from decoders.quant.linear import QuantLinear

    total, seen = 0, set[tuple[int, int, torch.dtype]]()
    for module in model.modules():
        if isinstance(module, QuantLinear):
            total += module.weight_bytes  # its packed parts are its own: nothing to share
        elif isinstance(module, torch.nn.Linear):
            for tensor in (module.weight, module.bias):
                if tensor is not None and (key := _identity(tensor)) not in seen:
                    seen.add(key)
                    total += tensor.numel() * tensor.element_size()
    return total


def _identity(tensor: torch.Tensor) -> tuple[int, int, torch.dtype]:
    # Tied layers hold the same Parameter, or views of one storage: the same memory is read once.
    return tensor.data_ptr(), tensor.numel(), tensor.dtype


def gguf_streamed_bytes(path: Path | str) -> int:
    """Bytes of a GGUF file's tensors llama.cpp reads per token: all but the embedding, of which it
    reads one row; a file without an output layer multiplies by the embedding instead (tied), so
    then the embedding counts."""
    import gguf

    tensors = gguf.GGUFReader(str(path)).tensors
    tied = not any(t.name == OUTPUT for t in tensors)
    return sum(int(t.n_bytes) for t in tensors if tied or t.name != EMBEDDING)


def read_bandwidth(gib: float = 1.0, repeat: int = 5) -> float:
    """This machine's memory read bandwidth in GB/s (1e9 bytes), with torch's threads: the median
    time of summing a float32 tensor of `gib` GiB, far larger than any cache, so it comes from memory."""
    data = torch.ones(max(int(gib * 2**30) // 4, 1), dtype=torch.float32)
    try:
        data.sum()  # untimed: threads woken, pages touched
        times: list[float] = []
        for _ in range(repeat):
            start = time.perf_counter()
            data.sum()
            times.append(time.perf_counter() - start)
        return data.numel() * data.element_size() / statistics.median(times) / 1e9
    finally:
        del data  # a GiB the benchmark's models should have back
