"""Several continuations of one session, grown side by side: one forward pass per step for all.

The branches share the session as their prefix and live in one fork of its cache. Each new token
is appended after every node so far, at the position its branch's depth gives it, seeing the
prefix and its own branch only; so a pass over k tokens gives the logits k separate sessions
stepping one token each would give (bit for bit where `Engine.exact` holds). Lookahead from k
candidates costs as many passes as the longest lookahead, not k times that.

A branch can also split (`spawn`): its children share its nodes and add one token each, as beam
search and batched sampling need. Nodes of branches that are dropped stay in the cache, masked
out, until they outnumber the live ones; then the cache is compacted (one gather per layer).
"""

from __future__ import annotations

import threading

import torch

from .engine import Engine, Session, kv_layers


class Branches:
    def __init__(self, engine: Engine, session: Session, count: int):
        if count < 1:
            raise ValueError(f"branches need a count of at least 1, got {count}")
        self.engine = engine
        self.fork = engine.fork(session)  # shares the prefix's keys and values; the session is untouched
        self.prefix = len(session.tokens)  # cache slots of the shared prefix
        self.slots: dict[int, list[int]] = {b: [] for b in range(count)}  # cache slots of each branch's nodes
        self.used = self.prefix  # slots in the cache, live or not
        self.next_id = count
        self.passes = 0

    def grow(self, tokens: dict[int, int], cancel: threading.Event | None = None) -> dict[int, torch.Tensor]:
        """Append `tokens[b]` to branch b (for the branches named); the logits after each, [vocab]."""
        order = sorted(tokens)
        new, logits = self._append([self.slots[b] for b in order], [tokens[b] for b in order], cancel)
        for row, branch in enumerate(order):
            self.slots[branch].append(new[row])
        return {branch: logits[row] for row, branch in enumerate(order)}

    def spawn(self, parents: list[int], tokens: list[int], cancel: threading.Event | None = None) -> tuple[list[int], torch.Tensor]:
        """New branches, the i-th being branch `parents[i]` plus `tokens[i]`; returns their ids and
        the logits after each, [k, vocab]. The parents stay (`drop` them when done with)."""
        new, logits = self._append([self.slots[p] for p in parents], tokens, cancel)
        ids = list(range(self.next_id, self.next_id + len(tokens)))
        self.next_id += len(tokens)
        for branch, parent, slot in zip(ids, parents, new):
            self.slots[branch] = [*self.slots[parent], slot]
        return ids, logits

    def drop(self, branches: list[int]) -> None:
        """Forget these branches; their nodes no other branch shares become dead slots."""
        for branch in branches:
            del self.slots[branch]

    def _append(self, ancestry: list[list[int]], tokens: list[int], cancel: threading.Event | None) -> tuple[list[int], torch.Tensor]:
        """One forward pass: token i after the prefix and the slots `ancestry[i]`; returns the
        slots the tokens took and their logits, [k, vocab]."""
        dead = self._dead()
        if dead > max(64, self.used - self.prefix - dead):
            ancestry = self._compact(ancestry)
        k, used = len(tokens), self.used
        positions = torch.tensor([self.prefix + len(a) for a in ancestry])  # [k]
        visible = torch.zeros(k, used + k, dtype=torch.bool)  # [k, used + k]
        visible[:, : self.prefix] = True
        for row, slots in enumerate(ancestry):
            visible[row, slots] = True
            visible[row, used + row] = True
        logits = self.engine.forward_nodes(self.fork, tokens, positions, visible, cancel)  # [k, vocab]
        self.used += k
        self.passes += 1
        return list(range(used, used + k)), logits

    def _dead(self) -> int:
        live = {slot for slots in self.slots.values() for slot in slots}
        return self.used - self.prefix - len(live)

    @torch.inference_mode()
    def _compact(self, ancestry: list[list[int]]) -> list[list[int]]:
        """Keep only the prefix and the live branches' nodes in the cache, in order; renumber
        the slots (of the branches and of `ancestry`, which must be live ones)."""
        live = sorted({slot for slots in self.slots.values() for slot in slots})
        renumber = {old: self.prefix + i for i, old in enumerate(live)}
        index = torch.tensor(list(range(self.prefix)) + live, device=self.engine.device)  # [prefix + live]
        for layer in kv_layers(self.fork.cache):
            assert layer.keys is not None and layer.values is not None  # the fork holds the prefix in every layer
            layer.keys = layer.keys.index_select(-2, index)  # [batch, heads, slots, dim]
            layer.values = layer.values.index_select(-2, index)
        self.slots = {b: [renumber[s] for s in slots] for b, slots in self.slots.items()}
        self.used = self.prefix + len(live)
        return [[renumber[s] for s in slots] for slots in ancestry]
