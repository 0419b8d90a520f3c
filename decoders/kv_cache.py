"""A key/value cache that grows in preallocated buffers, shared by forks, copied only on conflict.

transformers' DynamicLayer concatenates every step's keys and values onto copies of the whole
cache: a decoding step of the 0.5B model copied ~12 KB per cached token, every layer, every step.
Here each layer writes into a buffer (a `_Slab`) with room to spare, and its keys and values are
views of the filled part. Forks (Engine.fork) share the slab; a write goes in place only where no
other view can see it, else the layer first copies its own prefix into a new slab:

- `filled`: slots [0, filled) may be seen by some layer;
- `protected`: slots [0, protected) may be seen by a layer other than `owner`;
- a layer of length n may write slots [n, ...) in place when n >= filled (nobody sees them), or when
  it is the owner and n >= protected (only it saw them, and it has dropped them);
- a fork protects its length; a crop by the owner gives back the slots it drops.

Code that replaces a layer's `keys` and `values` with other tensors (decoders/branches.py
compacts them) simply leaves the slab: the next write starts a new one.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

if TYPE_CHECKING:
    from transformers.cache_utils import CacheLayerMixin, DummyLayer, LinearAttentionCacheLayerMixin

# Room a new slab leaves beyond what is needed: half again, at least this many slots.
MIN_SPARE = 256


class _Slab:
    def __init__(self, like: torch.Tensor, slots: int):  # like: [batch, heads, *, head_dim]
        batch, heads, _, dim = like.shape
        self.keys = torch.empty(batch, heads, slots, dim, dtype=like.dtype, device=like.device)
        self.values = torch.empty_like(self.keys)
        self.filled = 0
        self.protected = 0
        self.owner: object | None = None

    @property
    def slots(self) -> int:
        return self.keys.shape[2]


class SlabLayer(DynamicLayer):
    """A DynamicLayer whose keys and values are views of a shared, preallocated `_Slab`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.slab: _Slab | None = None

    def _live_slab(self) -> _Slab | None:
        """The slab, while keys and values are still this layer's views of it; else None."""
        slab, keys, values = self.slab, self.keys, self.values
        if slab is None or keys is None or values is None:  # no keys (e.g. after reset): no views
            return None
        on_slab = keys.data_ptr() == slab.keys.data_ptr() and values.data_ptr() == slab.values.data_ptr() and keys.stride() == slab.keys.stride()
        return slab if on_slab else None

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        n = self.get_seq_length()
        end = n + key_states.shape[-2]
        slab = self._writable(n, end, key_states)
        slab.keys[:, :, n:end] = key_states
        slab.values[:, :, n:end] = value_states
        self.keys, self.values = slab.keys[:, :, :end], slab.values[:, :, :end]
        return self.keys, self.values

    def _writable(self, n: int, end: int, like: torch.Tensor) -> _Slab:
        """The slab this layer may write slots [n, end) of, in place: its own, or a new copy."""
        slab = self._live_slab()
        if slab is not None and end <= slab.slots:
            if n >= slab.filled:
                if slab.owner is not self:
                    slab.protected, slab.owner = slab.filled, self
                slab.filled = end
                return slab
            if slab.owner is self and n >= slab.protected:
                slab.filled = end
                return slab
        fresh = _Slab(like, end + max(MIN_SPARE, end // 2))
        if n > 0:
            assert self.keys is not None and self.values is not None  # n > 0 slots are cached
            fresh.keys[:, :, :n] = self.keys
            fresh.values[:, :, :n] = self.values
        fresh.filled, fresh.owner = end, self
        self.slab = fresh
        return fresh

    def crop(self, tokens_to_remove: int) -> None:
        super().crop(tokens_to_remove)
        slab = self._live_slab()
        if slab is not None and slab.owner is self:
            slab.filled = max(self.get_seq_length(), slab.protected)

    def fork(self) -> SlabLayer:
        """A copy sharing the slab; the slots both see are protected from either's writes."""
        twin = copy.copy(self)
        slab = self._live_slab()
        if slab is not None:
            slab.protected = max(slab.protected, self.get_seq_length())
        return twin


def new_cache(config) -> DynamicCache:
    """A cache of SlabLayers for a model whose layers all use full attention; transformers' own
    DynamicCache (sliding windows and all) for any other."""
    cache = DynamicCache(config=config)
    if all(type(layer) is DynamicLayer for layer in cache.layers):
        layers: list[CacheLayerMixin | LinearAttentionCacheLayerMixin | DummyLayer] = [SlabLayer() for _ in cache.layers]
        cache.layers = layers
    return cache


def fork_layer(layer: DynamicLayer) -> DynamicLayer:
    """A copy of `layer` that its parent's later writes cannot reach."""
    return layer.fork() if isinstance(layer, SlabLayer) else copy.copy(layer)
