"""The adaptive wrapper on a simulated machine: a clock that charges each round what a pass of its
size costs, so its decisions can be checked against known costs (no model needed)."""

from dataclasses import dataclass, field

import pytest
import torch

from decoders.draft import Drafter, DraftTree, Verified
from decoders.drafters import AdaptiveDrafter
from decoders.drafters.recycling import DEFAULT_TEMPLATE


@dataclass
class Machine:
    """A plain round costs 1 time unit, each drafted node `per_node` more."""

    per_node: float
    now: float = 0.0

    def clock(self) -> float:
        return self.now


@dataclass
class TemplateDrafter(Drafter):
    """Proposes Token Recycling's 17-node template shape; the first `right` tokens of its leading
    path are what the model writes."""

    right: int = 0
    proposed: list[int] = field(default_factory=list)  # nodes per proposal, as proposed

    def propose(self, context, max_depth):
        tree = DraftTree.from_paths([[1 + rank for rank in ranks[:max_depth]] for ranks in DEFAULT_TEMPLATE])
        self.proposed.append(len(tree))
        return tree

    def observe(self, verified):
        pass


def run(adaptive: AdaptiveDrafter, machine: Machine, drafter: TemplateDrafter, tokens: int) -> tuple[float, list[int]]:
    """Decode `tokens` tokens; returns the time taken and the size of each draft verified."""
    written, sizes = 0, []
    while written < tokens:
        tree = adaptive.propose([0], 8)
        machine.now += 1 + machine.per_node * len(tree)
        path = list(range(min(drafter.right, max(tree.depths, default=0))))  # the leading path's first nodes
        adaptive.observe(Verified([0], tree, torch.zeros(1 + len(tree), 4), path))
        written, sizes = written + 1 + len(path), sizes + [len(tree)]
    return machine.now, sizes


def test_where_drafted_nodes_are_dear_and_wrong_it_costs_little_over_plain_decoding():
    """An emulated-bf16 CPU: a node costs two thirds of a step, and no draft is ever right."""
    machine, drafter = Machine(per_node=0.67), TemplateDrafter(right=0)
    adaptive = AdaptiveDrafter(drafter, clock=machine.clock)
    seconds, sizes = run(adaptive, machine, drafter, 400)
    assert sizes[0] == 0  # the first round is plain
    assert max(sizes) <= 2  # cut to what two rejected steps' time buys: int(2 / 0.67) nodes
    assert seconds <= 1.05 * 400  # at most 5% slower than never drafting
    assert sum(1 for s in sizes if s) <= 8  # retries back off: 8, 16, 32, ... rounds apart


def test_where_drafted_nodes_are_cheap_whole_trees_are_drafted():
    """A CPU with native bf16: a node costs 3% of a step; the leading path is right 3 deep."""
    machine, drafter = Machine(per_node=0.03), TemplateDrafter(right=3)
    adaptive = AdaptiveDrafter(drafter, clock=machine.clock)
    seconds, sizes = run(adaptive, machine, drafter, 400)
    drafted = [s for s in sizes if s]
    assert drafted[0] == adaptive.min_depth  # before a node's cost is known
    assert adaptive.on and drafted[1:] == drafter.proposed[1:]  # after: nothing cut
    assert max(sizes) > 8
    assert seconds < 0.5 * 400  # ~4 tokens a round at ~1.5 steps' cost


def test_where_dear_drafts_are_right_they_still_pay():
    """An emulated-bf16 CPU on an edit that copies its input: short drafts, mostly accepted."""
    machine, drafter = Machine(per_node=0.67), TemplateDrafter(right=8)
    adaptive = AdaptiveDrafter(drafter, clock=machine.clock)
    seconds, sizes = run(adaptive, machine, drafter, 400)
    assert adaptive.on and 1 <= max(sizes) <= 2
    assert seconds < 0.9 * 400


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="max_extra_steps"):
        AdaptiveDrafter(TemplateDrafter(), max_extra_steps=0)


@dataclass
class ChainDrafter(Drafter):
    """A draft model: a chain as deep as it is asked for, each drafted token a forward pass of its
    own (`per_token` time units), all of them right."""

    machine: Machine
    per_token: float
    asked: list[int] = field(default_factory=list)

    def propose(self, context, max_depth):
        self.asked.append(max_depth)
        self.machine.now += self.per_token * max_depth
        return DraftTree.from_paths([[1] * max_depth]) if max_depth else DraftTree.from_paths([])

    def observe(self, verified):
        pass


def run_all_accepted(adaptive: AdaptiveDrafter, machine: Machine, tokens: int) -> list[DraftTree]:
    """Decode `tokens` tokens where every drafted token is right; returns each round's tree."""
    written, trees = 0, []
    while written < tokens:
        tree = adaptive.propose([0], 8)
        machine.now += 1 + machine.per_node * len(tree)
        adaptive.observe(Verified([0], tree, torch.zeros(1 + len(tree), 4), list(range(len(tree)))))
        written, trees = written + 1 + len(tree), trees + [tree]
    return trees


def test_a_draft_model_is_asked_for_no_more_tokens_than_the_cap_keeps():
    """Tokens drafted only to be cut would cost a draft model's passes and count for nothing, so
    the cap bounds the depth asked for; with every token right, drafting then stays on."""
    machine = Machine(per_node=0.1)
    drafter = ChainDrafter(machine, per_token=0.35)
    adaptive = AdaptiveDrafter(drafter, clock=machine.clock)
    trees = run_all_accepted(adaptive, machine, 300)
    assert all(len(tree) == asked for tree, asked in zip([t for t in trees if t], drafter.asked))  # nothing drafted was cut away
    assert adaptive.on and max(drafter.asked) <= int(2 / 0.45)  # two plain rounds' time in nodes of 0.45
    assert machine.now < 0.6 * 300  # well under plain decoding's one unit a token


@dataclass
class CatchingUpDrafter(ChainDrafter):
    """A draft model whose first proposal prefills a long prompt (`prefill` time units)."""

    prefill: float = 30.0
    setup_seconds: float = 0.0
    seen: bool = False

    def propose(self, context, max_depth):
        self.setup_seconds = 0.0 if self.seen else self.prefill
        self.machine.now += self.setup_seconds
        self.seen = True
        return super().propose(context, max_depth)


def test_a_draft_models_prompt_prefill_does_not_switch_drafting_off():
    """The first draft round carries the draft model's prefill of the prompt, once: counted as that
    round's cost, it made drafting look 10x slower than plain rounds and turned a good drafter off."""
    machine = Machine(per_node=0.1)
    drafter = CatchingUpDrafter(machine, per_token=0.2)
    adaptive = AdaptiveDrafter(drafter, clock=machine.clock)
    run_all_accepted(adaptive, machine, 200)
    assert adaptive.on and len(drafter.asked) > 20  # drafted on most rounds
    assert machine.now - drafter.prefill < 0.6 * 200
