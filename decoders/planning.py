"""Test-guided planning search: Monte-Carlo tree search over tokens (PG-TD, "Planning with Large
Language Models for Code Generation"), whose rewards come from running whole programs.

The tree's nodes are prefixes of the generated text. An iteration
- selects a path from the root by P-UCB, which weighs a child's value (the best reward found
  below it) against the model's probability of its token, discounted by how often it was tried:
      value(c) + beta(N) * P(c) * sqrt(N) / (1 + N(c)),   beta(N) = log((N + base + 1) / base) + c
- expands the node it reaches with the model's top-k allowed tokens (the guides apply);
- rolls out from that node: the engine completes the program greedily, with the caller's
  drafter and guides, so a rollout costs what a plain completion costs;
- scores the program (the caller runs it against the public tests) and backs the reward up.

The first rollout, from the root, is plain greedy decoding, so the search returns greedy's
program unless it finds a better one. Caches: program text -> reward (a program is run once),
and rollouts by prefix (a greedy rollout from a node on an earlier rollout's path is that
rollout: nothing is generated again). The model's state at a node is prefilled from the stored
session sharing the longest prefix with it (the root's or a rollout's), so only the tokens past
that prefix run, usually one. A rollout, in the budget, is one program the model had to write.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Literal

import torch

from .draft import Drafter
from .engine import Engine, Session, common_prefix
from .guides import Guide, best_allowed
from .loop import CancelFlag, decode, generate
from .stopping import StopReason, StopRules

SearchStop = Literal["solved", "rollouts", "time", "cancelled", "exhausted"]


@dataclass(frozen=True)
class PlanningConfig:
    rollouts: int = 16  # programs the model writes at most
    seconds: float | None = None  # wall-time budget; the rollout under way finishes
    top_k: int = 3  # children of an expanded node
    ucb_base: float = 10.0  # P-UCB's beta (PG-TD's defaults)
    ucb_constant: float = 4.0
    max_iterations: int | None = None  # selections in all (default: 8 per rollout); cached rollouts cost none

    def __post_init__(self) -> None:
        if self.rollouts < 1:
            raise ValueError(f"a search needs at least 1 rollout, got {self.rollouts}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"the time budget must be positive, got {self.seconds}")


@dataclass(frozen=True)
class Scored:
    """What the caller's reward says of one program."""

    score: float  # maximised by the search, e.g. the share of public tests passed
    solved: bool  # every public test passes: the search may stop
    detail: object = None  # the caller's own (e.g. how many tests passed), kept with the program


@dataclass(frozen=True)
class Program:
    text: str  # the generated text, cut where a stop rule said
    tokens: tuple[int, ...]
    stop_reason: StopReason
    scored: Scored
    rollout: int  # rollouts written when it was found (1: greedy's own program)


@dataclass
class SearchResult:
    best: Program | None  # the best program found: highest score, the earliest among equals (None: cancelled first)
    programs: list[Program]  # every distinct program, in the order written
    rollouts: int
    iterations: int
    stopped: SearchStop
    seconds: float
    forward_passes: int = 0


@dataclass
class _Node:
    tokens: tuple[int, ...]  # generated tokens from the root to here
    prior: float  # the model's probability of the last token, given the parent
    guide: Guide | None  # advanced along `tokens`
    visits: int = 0
    value: float = 0.0  # the best score of the programs rolled out at or below this node
    children: list["_Node"] | None = None  # None until expanded
    ended: StopReason | None = None  # the sequence ends here (its program is `tokens` itself)


Reward = Callable[[str], Scored]
Progress = Callable[[int, Program], None]  # (rollouts done, best program so far)


@dataclass
class _Search:
    engine: Engine
    root: Session
    tokenizer: object
    stop: StopRules
    reward: Reward
    config: PlanningConfig
    drafter: Drafter | None
    cancel: CancelFlag | None
    sessions: list[Session] = field(default_factory=list)  # whose caches later prefills reuse
    rollouts: list[tuple[int, Program]] = field(default_factory=list)  # (tokens before the rollout's start, its program)
    programs: dict[str, Program] = field(default_factory=dict)  # by text, in the order written: each run once
    written: int = 0  # rollouts the model wrote
    passes: int = 0

    def decode(self, tokens: tuple[int, ...] | list[int]) -> str:
        return decode(self.tokenizer, list(tokens))


def plan(
    engine: Engine,
    session: Session,
    tokenizer,
    stop: StopRules,
    reward: Reward,
    config: PlanningConfig = PlanningConfig(),
    guide: Guide | None = None,
    drafter: Drafter | None = None,
    cancel: CancelFlag | None = None,
    on_rollout: Progress | None = None,
) -> SearchResult:
    """Search for the program `reward` scores best, continuing `session` (left as it was)."""
    start = time.perf_counter()
    search = _Search(engine, session, tokenizer, stop, reward, config, drafter, cancel, [session])
    root = _Node((), 1.0, guide)
    limit = config.max_iterations or 8 * config.rollouts
    iterations, stopped = 0, "exhausted"
    best: Program | None = None
    while iterations < limit:
        if (why := _budget_spent(search, best, start)) is not None:
            stopped = why
            break
        iterations += 1
        path = _select(root, config)
        program = _evaluate(search, path[-1])
        if program is None:  # cancelled inside a rollout
            stopped = "cancelled"
            break
        for node in path:
            node.visits += 1
            node.value = max(node.value, program.scored.score)
        if best is None or program.scored.score > best.scored.score:
            best = program
        if on_rollout is not None:
            on_rollout(search.written, best)
    stopped = "solved" if best is not None and best.scored.solved else stopped
    seconds = time.perf_counter() - start
    return SearchResult(best, list(search.programs.values()), search.written, iterations, stopped, seconds, search.passes)


def _budget_spent(search: _Search, best: Program | None, start: float) -> SearchStop | None:
    if best is not None and best.scored.solved:
        return "solved"
    if search.cancel is not None and search.cancel.is_set() and best is not None:
        return "cancelled"
    if search.written >= search.config.rollouts:
        return "rollouts"
    seconds = search.config.seconds
    if seconds is not None and best is not None and time.perf_counter() - start >= seconds:
        return "time"
    return None


def _select(root: _Node, config: PlanningConfig) -> list[_Node]:
    """The path from the root to the node to expand (or to an ended node), by P-UCB."""
    path = [root]
    node = root
    while node.children and node.ended is None:
        node = max(node.children, key=lambda child: _p_ucb(node, child, config))
        path.append(node)
    return path


def _p_ucb(parent: _Node, child: _Node, config: PlanningConfig) -> float:
    beta = math.log((parent.visits + config.ucb_base + 1) / config.ucb_base) + config.ucb_constant
    return child.value + beta * child.prior * math.sqrt(parent.visits) / (1 + child.visits)


def _evaluate(search: _Search, node: _Node) -> Program | None:
    """Expand `node` and roll out from it; the program it leads to (None if cancelled)."""
    if node.ended is not None:
        return _scored(search, node.tokens, node.ended)
    session = _session_at(search, node.tokens)
    if node.children is None:
        _expand(search, node, session)
    known = _known_rollout(search, node.tokens)
    if known is not None:
        return known
    result = generate(
        search.engine, session, search.tokenizer, stop=search.stop, guide=node.guide, cancel=search.cancel,
        drafter=search.drafter, generated=node.tokens,
    )
    search.passes += result.forward_passes
    if result.stop_reason == "cancelled":
        return None
    search.sessions.append(session)
    search.written += 1
    program = _scored(search, tuple(result.tokens), result.stop_reason, result.text)
    search.rollouts.append((len(node.tokens), program))
    return program


def _known_rollout(search: _Search, tokens: tuple[int, ...]) -> Program | None:
    """An earlier rollout that greedy decoding from `tokens` would repeat: one that started at
    or above them and went through them (past its start every token was greedy's choice)."""
    for start, program in search.rollouts:
        if start <= len(tokens) and program.tokens[: len(tokens)] == tokens:
            return program
    return None


def _expand(search: _Search, node: _Node, session: Session) -> None:
    """The node's children: the model's top-k allowed tokens, each with its probability."""
    probabilities = torch.softmax(session.next_logits.float(), dim=-1)  # [vocab]
    node.children = []
    for token in best_allowed(session.next_logits, node.guide, search.config.top_k):
        taken = search.stop.take(search.decode, list(node.tokens), token)
        tokens = node.tokens if taken.reason == "eos" else (*node.tokens, token)
        guide = node.guide.advance(token) if node.guide is not None and taken.reason != "eos" else node.guide
        node.children.append(_Node(tokens, float(probabilities[token]), guide, ended=taken.reason))


def _session_at(search: _Search, tokens: tuple[int, ...]) -> Session:
    """A session over the prompt and `tokens`, prefilled from the stored session sharing most of it."""
    wanted = search.root.tokens + list(tokens)
    if not tokens:
        return search.engine.fork(search.root)
    closest = max(search.sessions, key=lambda s: common_prefix(s.tokens, wanted))
    session = search.engine.prefill(wanted, reuse=closest)
    assert session is not None  # no cancel flag given to the prefill
    session.prompt_length = len(search.root.tokens)
    search.passes += 1
    return session


def _scored(search: _Search, tokens: tuple[int, ...], reason: StopReason, text: str | None = None) -> Program:
    """The program `tokens` make, scored once per distinct text."""
    if text is None:
        text = search.decode(tokens)
        if (cut := search.stop.cut(text)) is not None:
            text = text[:cut]
    if text not in search.programs:
        search.programs[text] = Program(text, tokens, reason, search.reward(text), search.written)
    return search.programs[text]
