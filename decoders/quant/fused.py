"""One kernel call for the projections that read the same input: attention's q, k and v, the MLP's
gate and up.

Each call of the quantized kernel quantizes its input, starts the threads and allocates its output;
a 0.5B step makes 169 such calls, 72 of them on an input another projection has just read. Here
the layers of a group are packed side by side into one QuantLinear, computed once per input, and
each original module returns its columns of that output. Every column is computed alone by the
kernel, so the values are the very ones the separate layers give (a test checks it); only calls
and input quantizations are saved.

Only names that mean "same input" in transformers' models are grouped (q/k/v_proj, gate/up_proj).
If a member is ever called with another input than the group's last one, the group is computed for
that input: slower, never wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeGuard

import torch

from .linear import COLUMNS, PARTS, QuantLinear

GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class SharedProjection(torch.nn.Module):
    """Computes its group's fused layer once per input and returns its own columns of the output."""

    def __init__(self, group: FusedGroup, start: int, end: int):
        super().__init__()
        self.group = [group]  # a list: the fused layer is registered once, on the parent module
        self.start, self.end = start, end
        self.in_features, self.out_features = group.layer.in_features, end - start

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [..., in] -> [..., out]
        return self.group[0].output(x)[..., self.start : self.end]


class FusedGroup:
    def __init__(self, layer: QuantLinear):
        self.layer = layer
        self._last: tuple[torch.Tensor, int | None, torch.Tensor] | None = None  # (input, its version, output)

    def output(self, x: torch.Tensor) -> torch.Tensor:
        last, version = self._last, _version(x)
        # The input object itself is held, so its id cannot be reused while cached.
        if last is not None and last[0] is x and last[1] == version:
            return last[2]
        y = self.layer(x)
        self._last = (x, version, y)
        return y


def _version(x: torch.Tensor) -> int | None:
    """x's version counter, which changes with any in-place write; inference tensors (decoding
    runs under torch.inference_mode) keep none, and transformers' layers write no input in place."""
    return None if x.is_inference() else x._version


def fuse_projections(model: torch.nn.Module) -> int:
    """Group each module's q/k/v and gate/up QuantLinears, in place; returns the groups made."""
    made = 0
    for parent in list(model.modules()):
        for names in GROUPS:
            members = [getattr(parent, name, None) for name in names]
            if _fusable_group(members):
                _fuse(parent, names, members)
                made += 1
    return made


def _fusable_group(members: Sequence[object]) -> TypeGuard[Sequence[QuantLinear]]:
    return all(_fusable(m, members[0]) for m in members)


def _fusable(layer, first) -> bool:
    return (
        isinstance(layer, QuantLinear)
        and layer.out_features % COLUMNS == 0  # whole column groups: the parts concatenate
        and (layer.in_features, layer.form, layer.kernel, layer.bias is None, layer.mins is None)
        == (first.in_features, first.form, first.kernel, first.bias is None, first.mins is None)
    )


def _fuse(parent: torch.nn.Module, names: tuple[str, ...], members: Sequence[QuantLinear]) -> None:
    packed = {part: torch.cat([getattr(m, part) for m in members]) for part in PARTS if getattr(members[0], part) is not None}
    biases = [m.bias for m in members if m.bias is not None]  # all or none: _fusable compared them
    bias = torch.cat(biases) if biases else None
    out = sum(m.out_features for m in members)
    fused = QuantLinear(packed, members[0].form, out, bias, members[0].kernel, all(m.exact for m in members))
    spans, start = [], 0
    for name, member in zip(names, members):
        spans.append((name, start, start + member.out_features))
        start += member.out_features
    install_group(parent, "_".join(n.removesuffix("_proj") for n in names) + "_fused", fused, spans)


def install_group(parent: torch.nn.Module, name: str, fused: QuantLinear, spans: list[tuple[str, int, int]]) -> None:
    """Register `fused` on `parent` as `name` (so it is counted, checked and moved with the model)
    and replace each member named in `spans` (name, first column, end) by its share of it."""
    fused.members = [list(span) for span in spans]  # how to rebuild the group from a cache
    setattr(parent, name, fused)
    group = FusedGroup(fused)
    for member, start, end in spans:
        setattr(parent, member, SharedProjection(group, start, end))
