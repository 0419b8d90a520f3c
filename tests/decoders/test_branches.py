"""Branches grown side by side give the logits of separate sessions stepping one token each."""

from __future__ import annotations

import pytest
import torch

from decoders import Engine
from decoders.branches import Branches


def test_side_by_side_equals_one_at_a_time_bit_for_bit(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    engine = Engine(tiny_cpu_model)
    assert engine.exact  # where a multi-token pass is batch-invariant, equality is exact
    session = engine.prefill(byte_tokenizer("def f(x):\n    return")["input_ids"])
    before = (list(session.tokens), len(session.cache.layers[0].keys[0, 0]))
    chains = [byte_tokenizer(text)["input_ids"] for text in (" x + 1\n", " None", " f(x)")]
    branches = Branches(engine, session, len(chains))
    for depth in range(max(map(len, chains))):
        rows = branches.grow({b: chain[depth] for b, chain in enumerate(chains) if depth < len(chain)})
        for b, row in rows.items():
            alone = engine.prefill(session.tokens)
            for token in chains[b][: depth + 1]:
                engine.step(alone, token)
            assert torch.equal(row, alone.next_logits), (b, depth)
    assert branches.passes == max(map(len, chains))
    assert (session.tokens, len(session.cache.layers[0].keys[0, 0])) == before  # the session is untouched


def test_no_branches_is_an_error(tiny_model, byte_tokenizer):
    engine = Engine(tiny_model)
    with pytest.raises(ValueError, match="at least 1"):
        Branches(engine, engine.prefill(byte_tokenizer("x")["input_ids"]), 0)
