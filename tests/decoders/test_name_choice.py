"""Whole-name choice after `obj.`: where the model's first choice is not a listed name, the name
written is the listed one with the highest probability as a whole (its tokens, then the end of the
identifier); elsewhere greedy is unchanged; speculation underneath changes nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from decoders import Engine, StopRules, generate
from decoders.monitors import NameChoice, NameIndex
from decoders.vocabulary import Vocabulary

from .test_speculative import drafters, tiny_bf16  # noqa: F401 (the fixture)

PROMPT = "config = load()\nvalue = config."
# None starts with the tiny model's first choice here ("t"), and masked greedy writes `date` from
# them while `dir` is the most likely whole name: the case the choice is for.
NAMES = ("beta", "bind", "date", "depth", "dir", "done")


@dataclass(frozen=True)
class Members:
    """A stand-in for the dereference monitor: one of `names` must be written, then anything goes."""

    index: NameIndex
    names: tuple[str, ...]
    partial: str = ""
    done: bool = False

    def allowed(self) -> torch.Tensor | None:
        return None if self.done else self.index.mask(self.names, self.partial)

    def advance(self, token: int) -> "Members":
        partial = self.partial
        for c in "" if self.done else self.index.vocabulary.texts[token]:
            if not (c.isalnum() or c == "_"):
                return replace(self, partial=partial, done=True)
            partial += c
        return replace(self, partial=partial)

    def names_to_choose(self) -> tuple[str, ...] | None:
        return None if self.done or self.partial else self.names


def setup(model, tokenizer):
    engine = Engine(model)
    index = NameIndex(Vocabulary.from_tokenizer(tokenizer))
    session = engine.prefill(tokenizer(PROMPT)["input_ids"])
    return engine, index, session


def overridden(index, session, names) -> bool:
    """Whether none of the names starts with the model's own first choice (so the choice is made)."""
    first = index.vocabulary.texts[int(torch.argmax(session.next_logits))]
    return not any(n.startswith(first[:1]) for n in names)


def whole_name_logprob(engine, session, tokenizer, index, name: str) -> float:
    """log P(name's tokens, then a token that ends the identifier), one step at a time."""
    fork = engine.fork(session)
    total = 0.0
    for token in tokenizer(name)["input_ids"]:
        total += float(torch.log_softmax(fork.next_logits.float(), -1)[token])
        engine.step(fork, token)
    logp = torch.log_softmax(fork.next_logits.float(), -1)
    ends = index.ends_identifier[: logp.shape[0]]
    return total + float(torch.logsumexp(logp[: ends.shape[0]][ends], 0))


def run(engine, tokenizer, index, names, reranker=None, drafter=None, steps=12):
    session = engine.prefill(tokenizer(PROMPT)["input_ids"])
    stop = StopRules(max_new_tokens=steps, eos_token_ids=frozenset({tokenizer.eos_token_id}))
    return generate(engine, session, tokenizer, stop=stop, guide=Members(index, names), drafter=drafter, reranker=reranker)


def chooser(engine, tokenizer, index) -> NameChoice:
    return NameChoice(engine, lambda name: tokenizer(name)["input_ids"], index.ends_identifier)


def test_the_listed_name_most_likely_as_a_whole_is_written_and_then_ended(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    names = NAMES
    assert overridden(index, session, names)
    scores = {n: whole_name_logprob(engine, session, byte_tokenizer, index, n) for n in names}
    best = max(names, key=scores.__getitem__)
    assert not run(engine, byte_tokenizer, index, names).text.startswith(best)  # masked greedy writes another
    reranker = chooser(engine, byte_tokenizer, index)
    text = run(engine, byte_tokenizer, index, names, reranker).text
    assert text.startswith(best) and not (text[len(best) :][:1].isalnum() or text[len(best) :][:1] == "_"), (text, best)
    # the choice, then only the steps where greedy would write something else than the name and its end
    assert 1 <= reranker.stats.pauses <= len(best) + 1
    assert reranker.stats.extra_passes == 1  # one pass over the trie of names


def test_where_the_model_already_writes_a_listed_name_greedy_stands(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    first = index.vocabulary.texts[int(torch.argmax(session.next_logits))]
    names = tuple(sorted({first[:1] + "xq", *NAMES}))
    reranker = chooser(engine, byte_tokenizer, index)
    assert run(engine, byte_tokenizer, index, names, reranker).tokens == run(engine, byte_tokenizer, index, names).tokens
    assert reranker.stats.pauses == 0 and reranker.stats.extra_passes == 0


def test_speculation_under_the_choice_changes_nothing(tiny_bf16, byte_tokenizer):  # noqa: F811 (the fixture)
    engine, index, session = setup(tiny_bf16, byte_tokenizer)
    names = NAMES
    assert overridden(index, session, names)
    plain = run(engine, byte_tokenizer, index, names, chooser(engine, byte_tokenizer, index), steps=24)
    assert math.isfinite(plain.seconds) and plain.tokens
    for label, make in drafters(tiny_bf16, len(byte_tokenizer)).items():
        drafted = run(engine, byte_tokenizer, index, names, chooser(engine, byte_tokenizer, index), make(plain, 24), steps=24)
        assert drafted.tokens == plain.tokens, label


def test_a_small_node_budget_still_writes_a_listed_name(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    reranker = NameChoice(engine, lambda name: byte_tokenizer(name)["input_ids"], index.ends_identifier, max_nodes=4)
    text = run(engine, byte_tokenizer, index, NAMES, reranker).text
    written = next(n for n in NAMES if text.startswith(n))  # a name of at most 4 tokens fits
    assert len(written) <= 4 and reranker.stats.extra_passes == 1
