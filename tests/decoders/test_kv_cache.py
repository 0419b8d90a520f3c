"""The preallocated key/value cache: forks never see each other's writes, and writes that nobody
else can see stay in place."""

import torch
from transformers.cache_utils import DynamicLayer

from decoders.kv_cache import SlabLayer


def rows(start: int, count: int) -> torch.Tensor:
    """[1, 2, count, 4] keys whose values name their position and a salt."""
    return torch.arange(start, start + count, dtype=torch.float32)[None, None, :, None].expand(1, 2, count, 4).clone()


def reference(chunks: list[torch.Tensor]) -> torch.Tensor:
    layer = DynamicLayer()
    for chunk in chunks:
        layer.update(chunk, -chunk)
    return layer.keys


def test_forks_keep_their_own_keys_whoever_writes_first():
    parent = SlabLayer()
    parent.update(rows(0, 5), -rows(0, 5))
    child = parent.fork()
    child.update(rows(100, 3), -rows(100, 3))  # writes past the shared prefix
    parent.update(rows(200, 2), -rows(200, 2))  # the same slots as the child's: must not touch them
    assert torch.equal(child.keys, reference([rows(0, 5), rows(100, 3)]))
    assert torch.equal(parent.keys, reference([rows(0, 5), rows(200, 2)]))
    assert torch.equal(child.values, -child.keys) and torch.equal(parent.values, -parent.keys)


def test_a_parent_rolled_back_below_a_fork_does_not_overwrite_it():
    parent = SlabLayer()
    parent.update(rows(0, 6), -rows(0, 6))
    child = parent.fork()
    parent.crop(-4)
    parent.update(rows(50, 6), -rows(50, 6))
    assert torch.equal(child.keys, reference([rows(0, 6)]))
    assert torch.equal(parent.keys, reference([rows(0, 2), rows(50, 6)]))


def test_an_owner_that_drops_its_last_slots_rewrites_them_in_place():
    layer = SlabLayer()
    layer.update(rows(0, 8), -rows(0, 8))
    slab = layer.slab
    layer.update(rows(8, 16), -rows(8, 16))  # a verification pass
    layer.crop(-13)  # three of sixteen kept
    layer.update(rows(30, 4), -rows(30, 4))
    assert layer.slab is slab  # no copy: nobody else saw the dropped slots
    assert torch.equal(layer.keys, reference([rows(0, 8), rows(8, 3), rows(30, 4)]))


def test_keys_replaced_from_outside_start_a_new_slab():
    layer = SlabLayer()
    layer.update(rows(0, 6), -rows(0, 6))
    old = layer.slab
    index = torch.tensor([0, 2, 4])
    layer.keys, layer.values = layer.keys.index_select(-2, index), layer.values.index_select(-2, index)
    layer.update(rows(9, 1), -rows(9, 1))
    assert layer.slab is not old
    assert torch.equal(layer.keys[0, 0, :, 0], torch.tensor([0.0, 2.0, 4.0, 9.0]))
    assert torch.equal(old.keys[0, 0, :6, 0], torch.arange(6.0))  # the old slab untouched


def test_a_slab_grows_when_full_and_keeps_what_was_written():
    layer = SlabLayer()
    chunks = [rows(64 * i, 64) for i in range(12)]  # past the first slab's room
    for chunk in chunks:
        layer.update(chunk, -chunk)
    assert torch.equal(layer.keys, reference(chunks))
