"""Whole-name choice after `obj.`: the name written is the listed one with the highest probability
as a whole (its tokens, then the end of the identifier); the forward pass that scores the names
also writes the chosen one; speculation underneath changes nothing."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from decoders import Engine, Guide, Plugins, StopRules, generate
from decoders.monitors import NameChoice, NameIndex
from decoders.vocabulary import Vocabulary

from .test_speculative import drafters

PROMPT = "config = load()\nvalue = config."
# None starts with the tiny model's first choice here ("t"), and masked greedy writes `date` from
# them while `dir` is the most likely whole name: the case the choice is for.
NAMES = ("beta", "bind", "date", "depth", "dir", "done")


@dataclass(frozen=True)
class Members(Guide):
    """A stand-in for the dereference monitor: one of `names` must be written, then anything goes."""

    index: NameIndex
    names: tuple[str, ...]
    partial: str = ""
    done: bool = False

    def allowed(self) -> torch.Tensor | None:
        return None if self.done else self.index.mask(self.names, self.partial)

    def advance(self, token: int) -> Members:
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
    return generate(engine, session, tokenizer, Plugins(stop=stop, guide=Members(index, names), drafter=drafter, reranker=reranker))


def chooser(engine, tokenizer, index) -> NameChoice:
    return NameChoice(engine, lambda name: tokenizer(name)["input_ids"], index.ends_identifier)


def name_tokens(tokenizer, name: str) -> list[int]:
    return tokenizer(name)["input_ids"]


def replayed(engine, tokenizer, index, names, tokens: list[int], steps: int) -> list[int]:
    """Greedy from a fresh prefill of the prompt and `tokens`, under the guide advanced over them."""
    session = engine.prefill(tokenizer(PROMPT)["input_ids"] + tokens)
    guide = Members(index, names)
    for token in tokens:
        guide = guide.advance(token)
    stop = StopRules(max_new_tokens=steps, eos_token_ids=frozenset({tokenizer.eos_token_id}))
    return generate(engine, session, tokenizer, Plugins(stop=stop, guide=guide)).tokens


def test_the_listed_name_most_likely_as_a_whole_is_written_and_then_ended(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    names = NAMES
    assert overridden(index, session, names)
    scores = {n: whole_name_logprob(engine, session, byte_tokenizer, index, n) for n in names}
    best = max(names, key=scores.__getitem__)
    assert not run(engine, byte_tokenizer, index, names).text.startswith(best)  # masked greedy writes another
    reranker = chooser(engine, byte_tokenizer, index)
    result = run(engine, byte_tokenizer, index, names, reranker)
    text = result.text
    assert text.startswith(best) and not (text[len(best) :][:1].isalnum() or text[len(best) :][:1] == "_"), (text, best)
    # the choice, then at most the step that must end the identifier
    assert 1 <= reranker.stats.pauses <= 2
    # One pass over the trie of names writes the chosen name: no pass is spent on the choice.
    m = len(name_tokens(byte_tokenizer, best))
    assert result.stop_reason == "max_tokens" and reranker.stats.extra_passes == 1
    assert result.forward_passes + reranker.stats.extra_passes == len(result.tokens) - m
    # What follows the kept name comes from the cache that pass left: it matches a fresh prefill.
    after = result.tokens[: m + 1]
    assert replayed(engine, byte_tokenizer, index, names, after, 12 - len(after)) == result.tokens[m + 1 :]


def test_the_choice_is_made_where_the_model_already_writes_a_listed_name(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    first = index.vocabulary.texts[int(torch.argmax(session.next_logits))]
    names = tuple(sorted({first[:1] + "xq", *NAMES}))
    scores = {n: whole_name_logprob(engine, session, byte_tokenizer, index, n) for n in names}
    best = max(names, key=scores.__getitem__)
    text = run(engine, byte_tokenizer, index, names, chooser(engine, byte_tokenizer, index)).text
    assert text.startswith(best), (text, best, scores)


def test_dunder_names_are_candidates_only_where_the_model_starts_one(tiny_model, byte_tokenizer):
    engine, index, _ = setup(tiny_model, byte_tokenizer)
    reranker = chooser(engine, byte_tokenizer, index)
    names = (*NAMES, "__class__", "__init__")
    underscore = name_tokens(byte_tokenizer, "_")[0]
    assert reranker._eligible(names, underscore) == names
    assert reranker._eligible(names, name_tokens(byte_tokenizer, "d")[0]) == NAMES
    assert reranker._eligible(("__class__",), name_tokens(byte_tokenizer, "d")[0]) == ("__class__",)  # nothing else: kept


@dataclass(frozen=True)
class Refusing(Guide):
    """`Members`, and at the second step one token is refused."""

    members: Members
    refused: int
    step: int = 0

    def allowed(self) -> torch.Tensor | None:
        mask = self.members.allowed()
        if self.step != 1:
            return mask
        mask = mask.clone() if mask is not None else torch.ones(len(self.members.index.vocabulary.texts), dtype=torch.bool)
        mask[self.refused] = False
        return mask

    def advance(self, token: int) -> Refusing:
        return Refusing(self.members.advance(token), self.refused, self.step + 1)

    def names_to_choose(self) -> tuple[str, ...] | None:
        return self.members.names_to_choose()


def test_a_guide_that_refuses_a_token_of_the_name_ends_it_there(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    scores = {n: whole_name_logprob(engine, session, byte_tokenizer, index, n) for n in NAMES}
    best = max(NAMES, key=scores.__getitem__)
    second = name_tokens(byte_tokenizer, best)[1]
    guide = Refusing(Members(index, NAMES), second)
    stop = StopRules(max_new_tokens=12, eos_token_ids=frozenset({byte_tokenizer.eos_token_id}))
    fresh = engine.prefill(byte_tokenizer(PROMPT)["input_ids"])
    result = generate(engine, fresh, byte_tokenizer, Plugins(stop=stop, guide=guide, reranker=chooser(engine, byte_tokenizer, index)))
    assert result.tokens[0] == name_tokens(byte_tokenizer, best)[0] and result.tokens[1] != second
    # The kept first token's cache is right: greedy goes on from it as from a fresh prefill.
    again = engine.prefill(byte_tokenizer(PROMPT)["input_ids"] + result.tokens[:1])
    rest = generate(engine, again, byte_tokenizer, Plugins(stop=replace(stop, max_new_tokens=11), guide=guide.advance(result.tokens[0])))
    assert rest.tokens == result.tokens[1:]


def test_speculation_under_the_choice_changes_nothing(tiny_cpu_model, byte_tokenizer):  # noqa: F811 (the fixture)
    engine, index, session = setup(tiny_cpu_model, byte_tokenizer)
    names = NAMES
    assert overridden(index, session, names)
    plain = run(engine, byte_tokenizer, index, names, chooser(engine, byte_tokenizer, index), steps=24)
    assert math.isfinite(plain.seconds) and plain.tokens
    for label, make in drafters(tiny_cpu_model, len(byte_tokenizer)).items():
        drafted = run(engine, byte_tokenizer, index, names, chooser(engine, byte_tokenizer, index), make(plain, 24), steps=24)
        assert drafted.tokens == plain.tokens, label


def test_a_small_node_budget_still_writes_a_listed_name(tiny_model, byte_tokenizer):
    engine, index, session = setup(tiny_model, byte_tokenizer)
    reranker = NameChoice(engine, lambda name: byte_tokenizer(name)["input_ids"], index.ends_identifier, max_nodes=4)
    text = run(engine, byte_tokenizer, index, NAMES, reranker).text
    written = next(n for n in NAMES if text.startswith(n))  # a name of at most 4 tokens fits
    assert len(written) <= 4 and reranker.stats.extra_passes == 1
