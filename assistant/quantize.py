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

import dataclasses
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from decoders import row_kernel
from decoders.quant import blocks
from decoders.quant.fused import fuse_projections, install_group
from decoders.quant.linear import PARTS, QuantKernel, QuantLinear, form, pack

from .cache_lock import alone
from .errors import GuidecodeError
from .options import WEIGHTS
from .progress import Progress

CACHE_VERSION = 3
log = logging.getLogger("guidecode")


@dataclass(frozen=True)
class QuantSummary:
    layers: int
    exact_layers: int  # layers whose codes are the GGUF file's own values
    weight_bytes: int  # bytes of the packed linear layers: what a decoding step streams

    def describe(self) -> str:
        kind = (
            "the GGUF file's values"
            if self.exact_layers == self.layers
            else f"{self.exact_layers} of {self.layers} layers the file's values, the rest requantized to 8 bits"
        )
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
    """Replace every nn.Linear of `model` by quantized layers, in place; codes from `gguf` where it
    holds the layer, else requantized from the dense weight. `cache`: a folder for the packed layers
    (the dense layers of a cached model are then never read)."""
    built = row_kernel.load()
    if built.kernel is None:
        raise GuidecodeError(f"quantized weights need guidecode's decoding kernel: {built.why_not}; or use --weights dense")
    kernel = QuantKernel.runnable()[-1]
    if cache is None:
        return _pack(model, gguf, kernel, progress)
    if (stored := _read_cache(cache)) is not None:
        return _install(model, *stored, kernel)
    with alone(cache.with_name(cache.name + ".lock"), progress):
        if (stored := _read_cache(cache)) is not None:  # another process wrote it while this one waited
            return _install(model, *stored, kernel)
        summary = _pack(model, gguf, kernel, progress)
        _write_cache(cache, model, summary)
    return summary


def _pack(model: torch.nn.Module, gguf: Path | None, kernel: QuantKernel, progress: Progress) -> QuantSummary:
    with progress.phase("packing quantized weights (once; later loads read a cache)"):
        summary = _quantize_linears(model, gguf, kernel)
        fuse_projections(model)  # the same values in fewer calls
    return summary


def _quantize_linears(model: torch.nn.Module, gguf: Path | None, kernel: QuantKernel) -> QuantSummary:
    source = _GGUFTensors(gguf, model) if gguf is not None else None
    for name in [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]:
        linear = model.get_submodule(name)
        assert isinstance(linear, torch.nn.Linear)  # the names are those of Linear modules
        codes = (source.codes(name, linear.weight) if source is not None else None) or blocks.from_dense(linear.weight)
        bias = None if linear.bias is None else linear.bias.detach().float()  # added in float32 by the kernel
        _replace(model, name, QuantLinear(pack(codes), form(codes), linear.out_features, bias, kernel, codes.exact))
    quantized = [m for m in model.modules() if isinstance(m, QuantLinear)]
    return QuantSummary(len(quantized), sum(m.exact for m in quantized), sum(m.weight_bytes for m in quantized))


def _replace(model: torch.nn.Module, name: str, module: torch.nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def _install(model: torch.nn.Module, tensors: dict[str, torch.Tensor], meta: dict, kernel: QuantKernel) -> QuantSummary:
    """Rebuild the quantized layers a cache holds (fused groups included) in `model`."""
    for name, layer in meta["layers"].items():
        packed = {part: tensors[f"{name}.{part}"] for part in PARTS if f"{name}.{part}" in tensors}
        module = QuantLinear(packed, tuple(layer["form"]), layer["out_features"], tensors.get(f"{name}.bias"), kernel, layer["exact"])
        parent, _, child = name.rpartition(".")
        if layer.get("members"):
            install_group(model.get_submodule(parent), child, module, [tuple(m) for m in layer["members"]])
        else:
            _replace(model, name, module)
    if left := [name for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)]:
        raise GuidecodeError(
            f"the quantized cache does not match the model (no layer for {left[0]}); delete {meta.get('folder', 'the cache folder')} and load again"
        )
    return QuantSummary(**meta["summary"])


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


def _read_cache(folder: Path) -> tuple[dict[str, torch.Tensor], dict] | None:
    from safetensors.torch import load_file

    meta_file = folder / "layers.json"
    if not meta_file.is_file():
        return None
    meta = json.loads(meta_file.read_text())
    if meta.get("version") != CACHE_VERSION:
        return None
    meta["folder"] = str(folder)
    return load_file(str(folder / "packed.safetensors")), meta


def _write_cache(folder: Path, model: torch.nn.Module, summary: QuantSummary) -> None:
    """The model's quantized layers as they run (fused groups as one layer each)."""
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    layers: dict[str, dict] = {}
    for name, module in model.named_modules():
        if isinstance(module, QuantLinear):
            for part in (*PARTS, "bias"):
                if getattr(module, part) is not None:
                    tensors[f"{name}.{part}"] = getattr(module, part).contiguous()
            layers[name] = {"form": list(module.form), "exact": module.exact, "out_features": module.out_features, "members": getattr(module, "members", None)}
    tmp = folder.with_name(folder.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(tensors, str(tmp / "packed.safetensors"))
    meta = {"version": CACHE_VERSION, "summary": dataclasses.asdict(summary), "layers": layers}
    (tmp / "layers.json").write_text(json.dumps(meta))
    shutil.rmtree(folder, ignore_errors=True)
    tmp.replace(folder)
