"""Running a loaded model's linear layers from quantized weights (decoders/quant).

`--weights` picks: `quantized` runs every linear layer (the output layer too) from 8-bit codes with
per-block scales; `dense` keeps the float weights; `auto` (the default) is quantized where that is
faithful, i.e. the model came from a GGUF file, whose own quantized values are then what runs, and
the device is a CPU. From a GGUF file each layer's codes are read from the file's blocks (Q4_0,
Q5_0, Q8_0, Q4_K, Q5_K and Q6_K hold exactly); other block types and dense models are requantized
to 8 bits per block of 32. The packed layers are cached beside the model's ready-to-load weights,
so only the first load pays for reading the blocks.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from decoders import row_kernel
from decoders.quant import blocks
from decoders.quant.fused import fuse_projections
from decoders.quant.linear import PARTS, QuantKernel, QuantLinear, form, pack

from .errors import GuidecodeError
from .progress import Progress

WEIGHTS = ("auto", "quantized", "dense")
CACHE_VERSION = 2
log = logging.getLogger("guidecode")


@dataclass(frozen=True)
class QuantSummary:
    layers: int
    exact_layers: int  # layers whose codes are the GGUF file's own values
    weight_bytes: int  # bytes of the packed linear layers: what a decoding step streams

    def describe(self) -> str:
        kind = "the GGUF file's values" if self.exact_layers == self.layers else f"{self.exact_layers} of {self.layers} layers the file's values, the rest requantized to 8 bits"
        return f"quantized weights ({kind}; {self.weight_bytes / 1e6:.0f} MB of linear layers)"


def resolve_weights(weights: str, from_gguf: bool, device: torch.device) -> bool:
    """Whether to quantize; `weights` is one of WEIGHTS."""
    if weights not in WEIGHTS:
        raise GuidecodeError(f"unknown weights {weights!r}; use one of: {', '.join(WEIGHTS)}")
    if weights == "quantized" and device.type != "cpu":
        raise GuidecodeError(f"quantized weights run on CPUs only, not on {device.type}; use --weights dense (or auto)")
    if weights == "auto":
        return from_gguf and device.type == "cpu"
    return weights == "quantized"


def quantize_model(model: torch.nn.Module, gguf: Path | None, cache: Path | None, progress: Progress) -> QuantSummary:
    """Replace every nn.Linear of `model` by a QuantLinear, in place; codes from `gguf` where it
    holds the layer, else requantized from the dense weight. `cache`: a folder for the packed layers."""
    built = row_kernel.load()
    if built.kernel is None:
        raise GuidecodeError(f"quantized weights need guidecode's decoding kernel: {built.why_not}; or use --weights dense")
    kernel = QuantKernel.runnable()[-1]
    names = [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]
    stored = _read_cache(cache) if cache is not None else None
    if stored is None:
        with progress.phase("packing quantized weights (once; later loads read a cache)"):
            stored = _pack_all(model, names, gguf)
        if cache is not None:
            _write_cache(cache, stored)
    tensors, layers = stored
    for name in names:
        linear: torch.nn.Linear = model.get_submodule(name)
        meta = layers[name]
        packed = {part: tensors[f"{name}.{part}"] for part in PARTS if f"{name}.{part}" in tensors}
        bias = None if linear.bias is None else linear.bias.detach().clone()
        _replace(model, name, QuantLinear(packed, tuple(meta["form"]), linear.out_features, bias, kernel, meta["exact"]))
    quantized = [m for m in model.modules() if isinstance(m, QuantLinear)]
    summary = QuantSummary(len(quantized), sum(m.exact for m in quantized), sum(m.weight_bytes for m in quantized))
    fuse_projections(model)  # the same values in fewer calls
    return summary


def _replace(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _pack_all(model: torch.nn.Module, names: list[str], gguf: Path | None) -> tuple[dict[str, torch.Tensor], dict[str, dict]]:
    source = _GGUFTensors(gguf, model) if gguf is not None else None
    tensors: dict[str, torch.Tensor] = {}
    layers: dict[str, dict] = {}
    for name in names:
        weight = model.get_submodule(name).weight
        codes = (source.codes(name, weight) if source is not None else None) or blocks.from_dense(weight)
        for part, value in pack(codes).items():
            tensors[f"{name}.{part}"] = value
        layers[name] = {"form": list(form(codes)), "exact": codes.exact}
    return tensors, layers


class _GGUFTensors:
    """A GGUF file's tensors by the model's module names (gguf's own name map for the architecture)."""

    def __init__(self, path: Path, model: torch.nn.Module):
        import gguf

        self.reader = gguf.GGUFReader(str(path))
        field = self.reader.fields["general.architecture"]
        arch_name = bytes(field.parts[field.data[0]]).decode()
        arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}.get(arch_name)
        blocks_count = getattr(model.config, "num_hidden_layers", 0)
        self.names = gguf.get_tensor_name_map(arch, blocks_count) if arch is not None else None
        self.tensors = {t.name: t for t in self.reader.tensors}

    def codes(self, name: str, weight: torch.Tensor) -> blocks.BlockCodes | None:
        """The layer's codes from the file, or None where the file does not hold it in a block type
        read exactly, or holds it in another layout than the loaded model (then: requantized)."""
        for tensor in self._candidates(name):
            codes = self._read(tensor, weight)
            if codes is not None:
                return codes
        log.info("%s: not read from the GGUF file's blocks; requantized", name)
        return None

    def _read(self, tensor, weight: torch.Tensor) -> blocks.BlockCodes | None:
        if not blocks.reads_exactly(tensor.tensor_type):
            return None
        n, k = weight.shape
        if [int(s) for s in tensor.shape] != [k, n]:
            return None
        codes = blocks.from_gguf(np.asarray(tensor.data), tensor.tensor_type, k)
        # The loaded weight is these values rounded to its dtype, unless the loader reordered rows
        # (e.g. llama's rotary permutation): then the file's layout is not the module's.
        values = torch.from_numpy(blocks.values(codes)).to(weight.dtype)
        return codes if torch.equal(values, weight.detach().cpu()) else None

    def _candidates(self, name: str) -> list:
        """The file's tensors that may hold this layer. A model with tied embeddings has its output
        layer in the file as `output` (llama.cpp's converter may store it apart, e.g. in 8 bits) or
        only as the embedding; the one whose values the loaded layer has is taken."""
        if self.names is None:
            return []
        key = self.names.get_name(f"{name}.weight", try_suffixes=(".weight",))
        keys = [key] + (["token_embd.weight"] if key == "output.weight" else [])
        return [self.tensors[k] for k in keys if k in self.tensors]


def _read_cache(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, dict]] | None:
    from safetensors.torch import load_file

    meta = folder / "layers.json"
    if not meta.is_file():
        return None
    layers = json.loads(meta.read_text())
    if layers.get("version") != CACHE_VERSION:
        return None
    return load_file(str(folder / "packed.safetensors")), layers["layers"]


def _write_cache(folder: Path, stored: tuple[dict[str, torch.Tensor], dict[str, dict]]) -> None:
    from safetensors.torch import save_file

    tensors, layers = stored
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "packed.safetensors"))
    (tmp / "layers.json").write_text(json.dumps({"version": CACHE_VERSION, "layers": layers}))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
