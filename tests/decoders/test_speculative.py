"""Speculation is lossless: with any drafter, good or bad, under any guide, the tokens are those of plain decoding."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import pytest
import torch

from decoders import Engine, Plugins, SamplingConfig, StopRules, TokenSetGuide, generate
from decoders.draft import EMPTY, Drafter, DraftTree, Verified
from decoders.drafters import AdaptiveDrafter, DraftModelDrafter, NgramDrafter, TokenRecycling, UnionDrafter
from decoders.sampling import probabilities
from decoders.verify import accept

from ..conftest import make_tiny_model

PROMPTS = [
    "def add(a, b):\n    return a + b\n\ndef add3(a, b, c):\n    return a",
    "for i in range(10):\n    print(i)\nfor j in range(10):\n",
    "x = 1\n",
]


@dataclass
class WrongDrafter(Drafter):
    """Proposes random trees: almost never accepted, so every verification path is exercised."""

    vocab: int
    seed: int = 0
    cost: float = 0.0  # seconds each proposal takes (an expensive drafter)

    def __post_init__(self):
        self.random = random.Random(self.seed)

    def propose(self, context, max_depth):
        time.sleep(self.cost)
        paths = [[self.random.randrange(self.vocab) for _ in range(max(0, min(max_depth, 3)))] for _ in range(3)]
        return DraftTree.from_paths([p for p in paths if p])

    def observe(self, verified):
        pass


@dataclass
class OracleDrafter(Drafter):
    """Proposes, as the second of two paths, the tokens plain decoding is known to produce next:
    accepted nodes then sit behind a decoy, so keeping them moves keys and values."""

    answer: list[int]
    prompt_length: int
    vocab: int

    def propose(self, context, max_depth):
        done = len(context) - self.prompt_length
        true = self.answer[done : done + max(0, min(max_depth, 4))]
        if not true:
            return EMPTY
        decoy = [(true[0] + 1) % self.vocab, 5]
        return DraftTree.from_paths([decoy, true])

    def observe(self, verified):
        pass


def plain_and_speculative(model, tokenizer, prompt, drafter_for, guide=None, max_new_tokens=40):
    engine = Engine(model)
    ids = tokenizer(prompt)["input_ids"]
    stop = StopRules(max_new_tokens=max_new_tokens, eos_token_ids=frozenset({tokenizer.eos_token_id}))
    plain = generate(engine, engine.prefill(ids), tokenizer, Plugins(stop=stop, guide=guide))
    drafter = drafter_for(plain, len(ids))
    fast = generate(engine, engine.prefill(ids), tokenizer, Plugins(stop=stop, guide=guide, drafter=drafter))
    return plain, fast


def drafters(model, vocab):
    return {
        "ngram": lambda plain, n: NgramDrafter(min_ngram=1),
        "recycling": lambda plain, n: TokenRecycling(vocab),
        "draft model": lambda plain, n: DraftModelDrafter(Engine(make_tiny_model(vocab, seed=1).to(model.dtype)), min_confidence=0.0),
        "union": lambda plain, n: UnionDrafter((NgramDrafter(min_ngram=1), TokenRecycling(vocab))),
        "adaptive": lambda plain, n: AdaptiveDrafter(NgramDrafter(min_ngram=1), probe_every=3),
        "always wrong": lambda plain, n: WrongDrafter(vocab),
        "oracle behind a decoy": lambda plain, n: OracleDrafter(plain.tokens, n, vocab),
    }


@pytest.mark.parametrize("name", ["ngram", "recycling", "draft model", "union", "adaptive", "always wrong", "oracle behind a decoy"])
@pytest.mark.parametrize("guided", [False, True])
def test_greedy_speculation_equals_plain_greedy(tiny_cpu_model, byte_tokenizer, name, guided):
    vocab = len(byte_tokenizer)
    guide = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghij():\n +", also=[byte_tokenizer.eos_token_id]) if guided else None
    accepted = produced = 0
    for prompt in PROMPTS:
        plain, fast = plain_and_speculative(tiny_cpu_model, byte_tokenizer, prompt, drafters(tiny_cpu_model, vocab)[name], guide)
        assert fast.tokens == plain.tokens, prompt
        assert (fast.text, fast.stop_reason) == (plain.text, plain.stop_reason)
        accepted, produced = accepted + fast.accepted, produced + len(fast.tokens)
    if name == "oracle behind a decoy":
        # 4 true tokens a round, after the first: most tokens came from accepted nodes that had to move
        assert accepted >= 0.6 * (produced - len(PROMPTS)) and accepted > 0


@pytest.mark.parametrize("name", ["always wrong", "oracle behind a decoy"])
def test_each_step_is_shown_once_in_order_with_or_without_drafts(tiny_cpu_model, byte_tokenizer, name):
    # A search reads the alternatives along a rollout from what `on_step` saw: with drafts, steps
    # inside a verified path must be shown exactly as plain decoding shows them.
    guide = TokenSetGuide.of_characters(byte_tokenizer, "abcdefghij():\n +", also=[byte_tokenizer.eos_token_id])
    engine = Engine(tiny_cpu_model)
    ids = byte_tokenizer(PROMPTS[0])["input_ids"]
    stop = StopRules(max_new_tokens=30)
    shown = {"plain": [], "drafted": []}
    plain = generate(engine, engine.prefill(ids), byte_tokenizer, Plugins(stop=stop, guide=guide, on_step=shown["plain"].append))
    drafter = drafters(tiny_cpu_model, len(byte_tokenizer))[name](plain, len(ids))
    fast = generate(engine, engine.prefill(ids), byte_tokenizer, Plugins(stop=stop, guide=guide, drafter=drafter, on_step=shown["drafted"].append))
    assert fast.tokens == plain.tokens and len(shown["plain"]) == len(plain.tokens)
    for seen in shown.values():
        assert [int(step.argmax()) for step in seen[: len(plain.tokens)]] == plain.tokens
        assert not torch.isfinite(seen[0][~guide.mask]).any()  # guided: what the verifier chose from
    assert all(torch.equal(a, b) for a, b in zip(shown["plain"], shown["drafted"]))


def test_bf16_forward_passes_are_batch_invariant(tiny_cpu_model):
    assert Engine(tiny_cpu_model).exact


def test_keep_leaves_the_cache_as_single_steps_would(tiny_cpu_model, byte_tokenizer):
    engine = Engine(tiny_cpu_model)
    ids = byte_tokenizer("def f(x):\n")["input_ids"]
    tokens = byte_tokenizer("    return")["input_ids"]
    stepped = engine.prefill(ids)
    for token in tokens:
        engine.step(stepped, token)
    tree = DraftTree.from_paths([[7, 8], tokens[1:4], [9]])  # the kept path is not the leading one
    verified = engine.prefill(ids)
    logits = engine.verify(verified, tokens[0], tree)
    path = [tree.children(-1)[tokens[1]]]
    path += [tree.children(path[-1])[tokens[2]]]
    path += [tree.children(path[-1])[tokens[3]]]
    engine.keep(verified, tree, path, logits[path[-1] + 1])
    for token in tokens[4:]:
        engine.step(verified, token)
    assert verified.tokens == stepped.tokens
    assert torch.equal(verified.next_logits, stepped.next_logits)


def test_draft_trees_merge_paths_and_reject_bad_parents():
    tree = DraftTree.from_paths([[1, 2, 3], [1, 4], [5]])
    assert tree.tokens == (1, 2, 3, 4, 5) and tree.parents == (-1, 0, 1, 0, -1)
    assert tree.depths == (1, 2, 3, 2, 1) and not tree.is_chain
    assert tree.paths() == [[1, 2, 3], [1, 4], [5]]
    assert DraftTree.chain([4, 5, 6]).is_chain
    assert DraftTree.from_paths([[1, 2, 3], [4, 5]], max_nodes=4).tokens == (1, 2, 3, 4)
    seen = tree.visibility()
    assert seen[3].tolist() == [True, True, True, True, False, False]  # node 2 (row 3) sees root, 0, 1, itself
    with pytest.raises(ValueError, match="parents must come before"):
        DraftTree((1, 2), (-1, 1))


def test_ngram_drafter_proposes_what_followed_the_longest_match():
    drafter = NgramDrafter(max_ngram=3, min_ngram=1, depth=3, branches=2)
    context = [1, 2, 3, 4, 5, 9, 2, 3, 7, 8, 1, 2, 3]
    tree = drafter.propose(context, max_depth=10)
    # "1 2 3" occurred once before (then 4 5 9); the shorter "2 3" adds its most recent other follower
    assert tree.paths() == [[4, 5, 9], [7, 8, 1]]
    assert drafter.propose([1, 2, 3], max_depth=0) == EMPTY


def test_token_recycling_remembers_the_models_candidates():
    drafter = TokenRecycling(vocab_size=20, top_k=4, template=((0, 0), (1,)))
    logits = torch.zeros(2, 20)
    logits[0, 5], logits[0, 6] = 3.0, 2.0  # after token 3: 5, then 6
    logits[1, 7] = 3.0  # after token 5: 7
    drafter.observe(Verified([1, 3], DraftTree.chain([5]), logits, [0]))
    assert drafter.propose([1, 3], max_depth=4).paths() == [[5, 7], [6]]
    assert drafter.propose([1, 3], max_depth=1).paths() == [[5], [6]]
    assert len(drafter.propose([1, 11], max_depth=4)) == 0  # never seen: nothing to propose


def test_adaptive_drafter_switches_off_a_drafter_that_does_not_pay(tiny_cpu_model, byte_tokenizer):
    vocab = len(byte_tokenizer)
    adaptive = AdaptiveDrafter(WrongDrafter(vocab, cost=0.01), probe_every=4)
    engine = Engine(tiny_cpu_model)
    session = engine.prefill(byte_tokenizer(PROMPTS[0])["input_ids"])
    result = generate(engine, session, byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=60), drafter=adaptive))
    assert not adaptive.on
    assert result.drafted < 60 * 3  # it stopped drafting long before the end


def sample_counts(logits, tree, guide, draws, temperature=1.0):
    generator = torch.Generator().manual_seed(1234)
    config = SamplingConfig(temperature=temperature, seed=0)
    counts = torch.zeros(logits.shape[-1])
    second = torch.zeros(logits.shape[-1])
    for _ in range(draws):
        out = accept(logits, tree, guide, config, generator)
        counts[out.tokens[0]] += 1
        if out.path:
            second[out.tokens[1]] += 1
    return counts, second


def chi_square(counts, probs):
    expected = probs * counts.sum()
    keep = expected > 0
    assert counts[~keep].sum() == 0, "a token with zero probability was sampled"
    return float(((counts[keep] - expected[keep]) ** 2 / expected[keep]).sum()), int(keep.sum()) - 1


# chi-square critical values at p = 0.001
CRITICAL = {3: 16.27, 5: 20.52, 6: 22.46, 7: 24.32, 9: 27.88}


@pytest.mark.parametrize("guided", [False, True])
def test_speculative_sampling_keeps_the_target_distribution(guided):
    torch.manual_seed(0)
    vocab = 10
    logits = torch.randn(4, vocab) * 1.5  # [1 + 3 nodes, vocab]
    tree = DraftTree.from_paths([[2, 4], [7]])  # root children 2 and 7; node 2 has child 4
    guide = TokenSetGuide.of(vocab, [0, 2, 3, 4, 7, 8, 9]) if guided else None
    mask = guide.mask if guided else torch.ones(vocab, dtype=torch.bool)
    counts, second = sample_counts(logits, tree, guide, draws=20000)
    target = probabilities(logits[0].masked_fill(~mask, float("-inf")), SamplingConfig(temperature=1.0))
    statistic, df = chi_square(counts, target)
    assert statistic < CRITICAL[df], (statistic, df)
    # after accepting node 2 (row 1), the next token follows the target's row 1
    target2 = probabilities(logits[1].masked_fill(~mask, float("-inf")), SamplingConfig(temperature=1.0))
    statistic2, df2 = chi_square(second, target2)
    assert statistic2 < CRITICAL[df2], (statistic2, df2)


@dataclass
class ScriptLookup(Drafter):
    """Guesses from a known continuation of `base`, with every third guessed token wrong."""

    base: list[int]
    script: list[int]
    vocab: int

    def propose(self, context, max_depth):
        done = len(context) - len(self.base)
        if list(context[: len(self.base)]) != self.base or list(context[len(self.base) :]) != self.script[:done]:
            return EMPTY
        guess = self.script[done : done + max_depth]
        return DraftTree.chain([(t + 1) % self.vocab if (done + i) % 3 == 2 else t for i, t in enumerate(guess)])

    def observe(self, verified):
        pass


def test_the_draft_models_lookup_gives_the_same_drafts_in_fewer_passes(tiny_cpu_model, byte_tokenizer):
    vocab = len(byte_tokenizer)
    draft = Engine(make_tiny_model(vocab, seed=1).to(tiny_cpu_model.dtype))
    ids = byte_tokenizer(PROMPTS[1])["input_ids"]
    script = generate(draft, draft.prefill(ids), byte_tokenizer, Plugins(stop=StopRules(max_new_tokens=12))).tokens
    contexts = [ids + script[:k] for k in range(0, 6)]

    def drafts(lookup):
        drafter = DraftModelDrafter(draft, depth=6, min_confidence=0.0, lookup=lookup)
        before = draft.passes
        out = [drafter.propose(context, max_depth=6).tokens for context in contexts]
        return out, draft.passes - before

    stepped, stepped_passes = drafts(None)
    assert stepped[0] == tuple(script[:6])  # drafting is the draft model's greedy continuation
    for lookup in (ScriptLookup(ids, script, vocab), WrongDrafter(vocab), NgramDrafter(min_ngram=1)):
        looked, looked_passes = drafts(lookup)
        assert looked == stepped, type(lookup).__name__
        if isinstance(lookup, ScriptLookup):
            assert looked_passes < stepped_passes
