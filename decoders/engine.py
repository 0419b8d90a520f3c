"""The engine: prefill, extend, fork and rollback over a model's KV cache.

A `Session` is one sequence's state. Invariant: `session.cache` holds keys and values for every
token of `session.tokens` except the last, whose forward pass produced `session.next_logits`, the
distribution over the token that follows; that is, the cache always covers `len(tokens)`
positions and `next_logits` is the model's output at the last of them.

Cancellation reaches inside a forward pass: a hook before every decoder layer (the model's
preparation puts it there, decoders/preparation.py) raises `Interrupted` once the caller's cancel
flag is set, so a superseded request frees the model within one layer's time, not one forward's.
A session interrupted that way has a half-written cache and must be discarded (sessions it was
forked from are untouched).

Speculation runs a drafted tree after the last token in one forward pass (`verify`), then keeps
the accepted path (`keep`). The model's preparation (decoders/preparation.py) makes its linear
layers (decoders/linear_route.py) and attention (decoders/invariant.py) batch-invariant so that
such a pass gives the logits single steps would give, bit for bit; `Engine.exact` checks it, for
every pass size, before speculation may run.
"""

from __future__ import annotations

import copy
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Literal, cast

import torch
from transformers import DynamicCache

from .draft import DraftTree
from .interrupted import Interrupted
from .kv_cache import fork_layer, new_cache
from .lean import LeanDecoder
from .linear_route import MAX_ROWS, LinearRoute, decoding_rows_agree
from .preparation import Preparation, prepare

if TYPE_CHECKING:
    from transformers import PretrainedConfig
    from transformers.cache_utils import CacheLayerMixin, DummyLayer, DynamicLayer, LinearAttentionCacheLayerMixin


@dataclass
class Session:
    tokens: list[int]  # prompt + everything generated so far
    cache: DynamicCache  # covers all of `tokens`
    next_logits: torch.Tensor  # [vocab] float32, the model's logits after the last token
    prompt_length: int
    reused: int = 0  # prompt tokens whose keys and values came from an earlier session

    @property
    def generated(self) -> list[int]:
        return self.tokens[self.prompt_length :]


def kv_layers(cache: DynamicCache) -> list[DynamicLayer]:
    """`cache`'s layers. transformers types them as any kind of layer, linear attention's included;
    an engine's caches (new_cache) hold key/value layers: DynamicLayer or a subclass."""
    return cast("list[DynamicLayer]", cache.layers)


class Engine:
    """Runs one model, one sequence at a time (batch size 1), on the model's device.

    The engine changes the model you pass (its attention, its linear layers' forward, a hook per
    decoder layer): see `engine.preparation`, whose `undo()` gives the model back. Engines over one
    model share its preparation (decoders/preparation.py)."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.device = next(model.parameters()).device
        self.preparation: Preparation = prepare(model)
        # transformers 5.25 renamed the forward's cache keyword (the old name warns there).
        self._cache_keyword = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.passes = 0  # forward passes run for callers (the engine's own checks not counted)

    @property
    def _config(self) -> PretrainedConfig:
        """The model's transformers config (torch types an attribute read of a Module as `Tensor | Module`)."""
        return cast("PretrainedConfig", self.model.config)

    @property
    def route(self) -> LinearRoute:
        """What the model's linear layers compute through (decoders/linear_route.py)."""
        return self.preparation.route

    @property
    def interruptible(self) -> int:
        """Decoder layers checked for cancellation within a pass (0: between passes only)."""
        return self.preparation.interruptible

    @torch.inference_mode()
    def _forward(
        self,
        cache: DynamicCache,
        tokens: list[int],
        cancel: threading.Event | None = None,
        positions: torch.Tensor | None = None,  # [k] when not consecutive (a tree)
        visible: torch.Tensor | None = None,  # [k, cached + k] bool, which keys each token sees
        last_only: bool = False,
        lean: LeanDecoder | Literal[False] | None = None,  # None: the engine's choice; False: transformers' forward
    ) -> torch.Tensor:
        """Append `tokens` to `cache` (in place) and return their logits, [len(tokens), vocab] float32
        ([1, vocab], the last token's, with `last_only`).

        Raises Interrupted (leaving `cache` half-written) if `cancel` is set meanwhile."""
        if self.preparation.undone:
            raise RuntimeError("the model's preparation was undone: this engine no longer runs it; make a new Engine")
        input_ids = torch.tensor([tokens], dtype=torch.long, device=self.device)  # [1, k]
        position_ids = None if positions is None else positions.to(self.device)[None]  # [1, k]
        mask = None if visible is None else visible.to(self.device)[None, None]  # [1, 1, k, cached + k]
        if lean is None:
            self.passes += 1
            lean = self.lean
        if lean and len(tokens) <= MAX_ROWS:
            return lean.forward(input_ids, cache, position_ids, mask, last_only, cancel)[0].float()  # [k, vocab]
        # A prompt chunk needs only its last row: the output layer over 150k tokens would cost as
        # much as the rest of the model for every other row.
        extra: dict = {"logits_to_keep": 1} if last_only else {}
        if position_ids is not None:
            extra["position_ids"] = position_ids
        if mask is not None:
            extra["attention_mask"] = mask
        self.preparation.cancellation.flag = cancel
        try:
            out = self.model(input_ids=input_ids, use_cache=True, **{self._cache_keyword: cache}, **extra)
        finally:
            self.preparation.cancellation.flag = None
        return out.logits[0].float()  # [k, vocab]

    @cached_property
    def lean(self) -> LeanDecoder | None:
        """The lean path for decoding-size passes (decoders/lean.py) where the model has the plain
        Llama layout and the path gives transformers' logits bit for bit on a probe; else None."""
        decoder = LeanDecoder.for_model(self.model)
        if decoder is None:
            return None
        return decoder if self._lean_agrees(decoder) else None

    def _lean_agrees(self, decoder: LeanDecoder) -> bool:
        """A step, a chain and a tree through `decoder` against transformers' forward, on forks of
        one prefilled probe."""
        vocab: int = self._config.vocab_size
        probe = [(7919 * i + 11) % vocab for i in range(9)]
        base = Session([], self._new_cache(), torch.empty(0), 0)
        self._forward(base.cache, probe[:4], lean=False)
        base.tokens.extend(probe[:4])
        tree = DraftTree.from_paths([[(t + 1) % vocab for t in probe[5:8]], probe[5:]])
        positions, visible = _tree_layout(len(base.tokens), tree)
        for tokens, pos, vis in ((probe[4:5], None, None), (probe[4:], None, None), ([probe[4], *tree.tokens], positions, visible)):
            ours, theirs = self.fork(base), self.fork(base)
            mine = self._forward(ours.cache, tokens, positions=pos, visible=vis, lean=decoder)
            reference = self._forward(theirs.cache, tokens, positions=pos, visible=vis, lean=False)
            if not (torch.equal(mine, reference) and _same_cache(ours.cache, theirs.cache)):
                return False
        return True

    def _new_cache(self) -> DynamicCache:
        return new_cache(self._config)

    def prefill(
        self,
        prompt: list[int],
        reuse: Session | None = None,
        chunk: int | None = None,
        cancel: threading.Event | None = None,
        on_partial: Callable[[Session], None] | None = None,
    ) -> Session | None:
        """A session over `prompt`.

        reuse: an earlier session whose cache already covers a prefix of `prompt`; only the rest
          is computed (the earlier session is left unchanged). At least the last prompt token is
          always recomputed, since its logits are needed.
        chunk: compute the prompt this many tokens at a time, checking `cancel` in between, so
          a long prefill can be abandoned; returns None when cancelled.
        on_partial: called, when cancelled after at least one chunk was computed, with a session
          over the chunks done (the next request, sharing that prefix, reuses them).
        """
        if not prompt:
            raise ValueError("prefill needs at least one prompt token")
        shared = common_prefix(reuse.tokens, prompt) if reuse is not None else 0
        shared = min(shared, len(prompt) - 1)
        if shared > 0:
            assert reuse is not None  # a prefix is shared only with a session to reuse
            session = self.fork(reuse)
            if (drop := len(session.tokens) - shared) > 0:
                session.cache.crop(-drop)
            del session.tokens[shared:]
        else:
            session = Session([], self._new_cache(), torch.empty(0), 0)
        rest = prompt[shared:]
        step = chunk or len(rest)
        try:
            for start in range(0, len(rest), step):
                if cancel is not None and cancel.is_set():
                    break
                self._append(session, rest[start : start + step], cancel)
        except Interrupted:
            # Some layers hold the interrupted chunk, others not (nor anything, in a first chunk):
            # back to the chunks done.
            for layer in kv_layers(session.cache):
                if (extra := layer.get_seq_length() - len(session.tokens)) > 0:
                    layer.crop(-extra)
        if len(session.tokens) < len(prompt):
            if on_partial is not None and len(session.tokens) > shared:
                session.prompt_length, session.reused = len(session.tokens), shared
                on_partial(session)
            return None
        session.prompt_length, session.reused = len(prompt), shared
        return session

    def _append(self, session: Session, tokens: list[int], cancel: threading.Event | None) -> None:
        session.next_logits = self._forward(session.cache, tokens, cancel, last_only=True)[-1]
        session.tokens.extend(tokens)

    def step(self, session: Session, token: int, cancel: threading.Event | None = None) -> None:
        """Append one token and compute the logits that follow it."""
        self.extend(session, [token], cancel)

    def extend(self, session: Session, tokens: list[int], cancel: threading.Event | None = None) -> torch.Tensor:
        """Append several tokens in one forward pass; returns their logits, [len(tokens), vocab].

        Row i is the distribution after tokens[i]; a verifier compares row i with tokens[i + 1].
        """
        logits = self._forward(session.cache, tokens, cancel)  # [k, vocab]
        session.tokens.extend(tokens)
        session.next_logits = logits[-1]
        return logits

    def verify(self, session: Session, token: int, tree: DraftTree, cancel: threading.Event | None = None) -> torch.Tensor:
        """Append `token` and run the drafted `tree` below it in the same forward pass.

        Returns [1 + len(tree), vocab] logits: row 0 after `token`, row i + 1 after node i (given
        its ancestors). Afterwards `token` is part of the session and the cache also holds every
        node; `keep` must follow, before any fork, to keep the accepted ones.
        """
        positions = visible = None
        if not tree.is_chain:  # a chain is plain causal attention at consecutive positions
            positions, visible = _tree_layout(len(session.tokens), tree)
        logits = self._forward(session.cache, [token, *tree.tokens], cancel, positions, visible)
        session.tokens.append(token)
        session.next_logits = logits[0]
        return logits

    def forward_nodes(
        self,
        session: Session,
        tokens: list[int],
        positions: torch.Tensor,
        visible: torch.Tensor,
        cancel: threading.Event | None = None,
    ) -> torch.Tensor:
        """Append nodes at the given `positions` ([k]) that see the cache slots `visible` marks
        ([k, cached + k]); returns their logits, [k, vocab]. The session's `tokens` no longer
        describe its cache afterwards: for a scratch fork (decoders/branches.py), or followed by
        `keep` (decoders/monitors/choice.py keeps the name it chose)."""
        return self._forward(session.cache, tokens, cancel, positions, visible)

    @torch.inference_mode()
    def keep(self, session: Session, tree: DraftTree, path: list[int], next_logits: torch.Tensor) -> None:
        """After `verify` (or `forward_nodes` on the session itself): keep the nodes on `path` (a
        root-to-node path of indices) and drop the rest.

        When the path is the tree's leading nodes (the first children) this is a crop. Otherwise
        the accepted nodes' keys and values move next to the root, in place: the verification wrote
        them where no fork sees them (decoders/kv_cache.py).
        """
        start, kept = len(session.tokens), len(path)
        if path != list(range(kept)):
            source = torch.tensor([start + i for i in path], device=self.device)
            for layer in kv_layers(session.cache):
                assert layer.keys is not None and layer.values is not None  # verify wrote the tree in every layer
                layer.keys[:, :, start : start + kept] = layer.keys[:, :, source]
                layer.values[:, :, start : start + kept] = layer.values[:, :, source]
        if (dropped := len(tree) - kept) > 0:
            session.cache.crop(-dropped)
        session.tokens.extend(tree.tokens[i] for i in path)
        session.next_logits = next_logits

    @property
    def exact(self) -> bool:
        """Whether a forward pass of any decoding size gives each token the logits a single step
        gives, bit for bit: checked once, on the model's own layer shapes for every pass size up to
        MAX_ROWS, then on a drafted chain and tree against single steps."""
        return self.why_inexact is None

    @cached_property
    def why_inexact(self) -> str | None:
        """None where `exact` holds; else what failed, for the user."""
        where = f"{self.device.type} in {str(next(self.model.parameters()).dtype).removeprefix('torch.')}"
        if not self.preparation.decided("decoding rows agree", lambda: decoding_rows_agree(self.model)):
            return f"on {where} a linear layer's rows depend on how many rows run together (1 to {MAX_ROWS} tried; {self.route.describe()})"
        if not self._steps_agree():
            return f"on {where} a drafted chain or tree did not give single steps' logits bit for bit"
        return None

    def _steps_agree(self) -> bool:
        """Through the whole model: a chain and a tree (true path behind a decoy) against single steps."""
        vocab: int = self._config.vocab_size
        probe = [(1009 * i + 17) % vocab for i in range(10)]
        stepped = self.prefill(probe[:4])
        assert stepped is not None  # prefill without `cancel` always completes
        singles = []
        for token in probe[4:]:
            self.step(stepped, token)
            singles.append(stepped.next_logits)
        as_chain = self.prefill(probe[:4])
        assert as_chain is not None
        chain_rows = self.extend(as_chain, probe[4:])
        decoy = [(t + 1) % vocab for t in probe[5:8]]
        tree = DraftTree.from_paths([decoy, probe[5:]])  # the true path second: not the leading slots
        as_tree = self.prefill(probe[:4])
        assert as_tree is not None
        tree_rows = self.verify(as_tree, probe[4], tree)
        return all(torch.equal(a, b) for a, b in zip(singles, chain_rows)) and all(
            torch.equal(singles[j], tree_rows[r]) for j, r in enumerate(_path_rows(tree, probe[5:]))
        )

    def fork(self, session: Session) -> Session:
        """An independent copy of `session`.

        Cheap: the key and value buffers are shared; a write that another session could see goes
        to a copy first (decoders/kv_cache.py), so only the per-layer holders are copied here.
        tests/decoders/test_engine.py checks this.
        """
        cache = copy.copy(session.cache)
        # Typed as transformers types `layers` (a list is invariant: a list[DynamicLayer] is not one).
        layers: list[CacheLayerMixin | LinearAttentionCacheLayerMixin | DummyLayer] = [fork_layer(layer) for layer in kv_layers(session.cache)]
        cache.layers = layers
        return Session(list(session.tokens), cache, session.next_logits, session.prompt_length)

    def rollback(self, session: Session, n: int, next_logits: torch.Tensor | None = None) -> None:
        """Drop the last `n` tokens.

        The logits after the new last token are `next_logits` when the caller knows them (a
        verifier does); otherwise that token is re-run, one forward pass.
        """
        if not 0 <= n <= len(session.tokens) - session.prompt_length:
            raise ValueError(f"cannot roll back {n} tokens: only {len(session.generated)} were generated")
        if n == 0:
            return
        del session.tokens[-n:]
        if next_logits is not None:
            session.cache.crop(-n)
            session.next_logits = next_logits
            return
        session.cache.crop(-(n + 1))
        session.next_logits = self._forward(session.cache, session.tokens[-1:])[-1]


def _same_cache(ours: DynamicCache, theirs: DynamicCache) -> bool:
    """Whether two caches after the same passes hold the same keys and values, bit for bit."""
    for a, b in zip(kv_layers(ours), kv_layers(theirs)):
        assert a.keys is not None and a.values is not None and b.keys is not None and b.values is not None  # every layer ran
        if not (torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)):
            return False
    return True


def _tree_layout(cached: int, tree: DraftTree) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions [1 + n] and visibility [1 + n, cached + 1 + n] of a root token and `tree`'s n
    nodes appended after `cached` tokens: each sees the cache, the root and its ancestors."""
    positions = cached + torch.tensor((0, *tree.depths))
    prefix = torch.ones(len(tree) + 1, cached, dtype=torch.bool)
    return positions, torch.cat([prefix, tree.visibility()], dim=1)


def _path_rows(tree: DraftTree, tokens: list[int]) -> list[int]:
    """The logits rows along `tokens` from the root: 0, then 1 + each node index."""
    return [0, *(node + 1 for node in tree.nodes_along(tokens))]


def common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
