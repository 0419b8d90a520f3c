"""Test-guided planning search: Monte-Carlo tree search over tokens (PG-TD, "Planning with Large
Language Models for Code Generation"), whose rewards come from running whole programs.

The tree's nodes are prefixes of the generated text. Each node, when first reached, is rolled out:
the engine completes the program from it (with the caller's drafter and guides, so a rollout
costs what a plain completion costs): the first rollout greedily, later ones by sampling
(temperature and top-p, each from its own seed; or greedily, with temperature 0). The program is
scored (the caller runs it against the public tests), and the node is expanded with the model's
top-k allowed tokens at *every* step of that rollout: a child is the rollout's prefix up to a step
followed by one of the tokens the rollout did not take there. The stretches between branch points
are edges of their own (a path-compressed token tree), and a child's prior is the model's
probability of its whole edge: the rollout's tokens from the node up to the step, then the
child's token. That is the probability that the model, from the node, would first leave the
rollout's path there, so the search branches first where the model most likely would, near the
start of the program or deep in it.
Why this prior: with one node per token level, as PG-TD grows its tree, the branches all fall
within the first few tokens of a body; with the child's token probability alone as its prior,
branches go deep but mostly respell the same program (`split()` for `split(' ')`). Sampled
rollouts after the first, rather than greedy ones, keep later programs from staying near greedy's.
(What each choice measured: docs/search.md.)
An iteration
- selects a path from the root by P-UCB, which weighs a child's value (the best reward found
  below it) against its prior (its edge's probability), discounted by how often it was tried:
      value(c) + beta(N) * P(c) * sqrt(N) / (1 + N(c)),   beta(N) = log((N + base + 1) / base) + c
- rolls out from the node it reaches and expands it, or, if that node ends the program (EOS or a
  stop rule), scores the program it ends;
- backs the reward up the path.

Alternatives whose programs would be the rollout's again are left out (see _alternatives): the
same text tokenized or spaced otherwise, and steps inside a comment that no code follows.
The first rollout, from the root, is plain greedy decoding, so the search returns greedy's
program unless it finds a better one. Programs are scored once per distinct text. The model's
state at a node is prefilled from the stored session sharing the longest prefix with it (the
rollout it branches from), so only its own token runs. A rollout, in the budget, is one program
the model had to write.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Literal

import torch

from .draft import Drafter
from .engine import Engine, Session, common_prefix
from .guides import Guide, refine
from .lexer import Lexer
from .loop import CancelFlag, Plugins, decode, generate
from .sampling import SamplingConfig, derive_seed
from .stopping import StopReason, StopRules

SearchStop = Literal["solved", "rollouts", "time", "cancelled", "exhausted"]


@dataclass(frozen=True)
class PlanningConfig:
    rollouts: int = 16  # programs the model writes at most
    seconds: float | None = None  # wall-time budget; the rollout under way finishes
    top_k: int = 3  # tokens considered at each step of a rollout (the k likeliest; those it did not take are children)
    ucb_base: float = 10.0  # P-UCB's beta (PG-TD's defaults)
    ucb_constant: float = 4.0
    max_iterations: int | None = None  # selections in all (default: 8 per rollout); ended programs cost none
    # Rollouts after the first: above 0 each samples (temperature, top-p) from its own seed,
    # derived from `seed` and its number, so a search is repeatable; 0 completes greedily
    # (sampled rollouts solve more: docs/search.md).
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.rollouts < 1:
            raise ValueError(f"a search needs at least 1 rollout, got {self.rollouts}")
        if self.top_k < 1:
            raise ValueError(f"top_k must be at least 1, got {self.top_k}")
        if self.seconds is not None and self.seconds <= 0:
            raise ValueError(f"the time budget must be positive, got {self.seconds}")
        SamplingConfig(self.temperature, self.top_p)  # refuses a negative temperature, a top-p outside (0, 1]

    def rollout_sampling(self, number: int) -> SamplingConfig:
        """How rollout `number` (1: the first, from the root) chooses its tokens."""
        if number == 1 or self.temperature == 0:
            return SamplingConfig()
        return SamplingConfig(self.temperature, self.top_p, derive_seed(self.seed, number))


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
    generated: int = 0  # tokens the model wrote over all rollouts (a rollout's own, past the node it began at)


class _Unknown(Enum):
    """A sentinel of its own type, so that `guide is _UNKNOWN` narrows a node's guide to `Guide | None`."""

    GUIDE = "unknown"


_UNKNOWN: Final = _Unknown.GUIDE  # a node's guide before it is first needed


@dataclass(eq=False)
class _Node:
    tokens: tuple[int, ...]  # generated tokens from the root to here
    prior: float  # the model's probability of the tokens past the parent, given the parent's
    parent: _Node | None  # the node whose rollout this one branches from
    visits: int = 0
    value: float = 0.0  # the best score of the programs at or below this node
    children: list[_Node] | None = None  # None until rolled out: the alternatives along its rollout
    program: Program | None = None  # its rollout's program (or the one it ends)
    guide: Guide | None | _Unknown = _UNKNOWN  # advanced along `tokens`, worked out when first needed


# A sampled rollout's token is looked up among a step's most likely this many, for its
# probability (for the child priors after it); one outside them is given the last one's
# probability, a bound from above.
_KEPT = 20


@dataclass
class _Steps:
    """Each step's most likely allowed tokens and their probabilities, as a rollout shows them
    (the model's own distribution, before any temperature)."""

    k: int
    seen: list[tuple[list[int], list[float]]] = field(default_factory=list)

    def __call__(self, masked: torch.Tensor) -> None:  # masked: [vocab] guided logits
        top = torch.topk(torch.softmax(masked.float(), dim=-1), max(self.k, _KEPT))
        self.seen.append((top.indices.tolist(), top.values.tolist()))


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
    programs: dict[str, Program] = field(default_factory=dict)  # by text, in the order written: each run once
    written: int = 0  # rollouts the model wrote
    generated: int = 0  # tokens those rollouts wrote
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
    root = _Node((), 1.0, None, guide=guide)
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
        if program is None:  # cancelled inside a rollout, or a token the guide refused on a closer look
            if search.cancel is not None and search.cancel.is_set():
                stopped = "cancelled"
                break
            continue
        for node in path:
            node.visits += 1
            node.value = max(node.value, program.scored.score)
        if best is None or program.scored.score > best.scored.score:
            best = program
        if on_rollout is not None:
            on_rollout(search.written, best)
    stopped = "solved" if best is not None and best.scored.solved else stopped
    seconds = time.perf_counter() - start
    programs = list(search.programs.values())
    return SearchResult(best, programs, search.written, iterations, stopped, seconds, search.passes, search.generated)


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
    """The path from the root to the node to roll out (or to one already scored), by P-UCB."""
    path = [root]
    node = root
    while node.children:
        node = max(node.children, key=lambda child: _p_ucb(node, child, config))
        path.append(node)
    return path


def _p_ucb(parent: _Node, child: _Node, config: PlanningConfig) -> float:
    beta = math.log((parent.visits + config.ucb_base + 1) / config.ucb_base) + config.ucb_constant
    return child.value + beta * child.prior * math.sqrt(parent.visits) / (1 + child.visits)


def _evaluate(search: _Search, node: _Node) -> Program | None:
    """Roll out from `node` and expand it, the first time; its program (None if cancelled, or if
    the guide refuses the node's token, which removes the node)."""
    if node.program is not None:
        return node.program
    guide = _guide_at(node)
    if guide is _UNKNOWN:
        assert node.parent is not None and node.parent.children is not None  # refused: a child, of a rolled-out node
        node.parent.children.remove(node)
        return None
    if node.tokens:
        taken = search.stop.take(search.decode, list(node.tokens[:-1]), node.tokens[-1])
        if taken.reason is not None:  # the node's token ends the program: nothing to roll out
            node.children = []
            tokens = node.tokens[:-1] if taken.reason == "eos" else node.tokens
            node.program = _scored(search, tokens, taken.reason)
            return node.program
    session = _session_at(search, node.tokens)
    steps = _Steps(search.config.top_k)
    sampling = search.config.rollout_sampling(search.written + 1)
    plugins = Plugins(sampling=sampling, stop=search.stop, guide=guide, drafter=search.drafter, cancel=search.cancel, on_step=steps)
    result = generate(search.engine, session, search.tokenizer, plugins, generated=node.tokens)
    search.passes += result.forward_passes
    if result.stop_reason == "cancelled":
        return None
    search.sessions.append(session)
    search.written += 1
    search.generated += len(result.tokens) - len(node.tokens)
    node.program = _scored(search, tuple(result.tokens), result.stop_reason, result.text)
    node.children = _alternatives(search, node, result.tokens[len(node.tokens) :], result.stop_reason, steps)
    return node.program


def _alternatives(search: _Search, node: _Node, rolled: list[int], reason: StopReason, steps: _Steps) -> list[_Node]:
    """The children of `node`: at each step of its rollout (`rolled`, the tokens past `node`), the
    top-k tokens the rollout did not choose. The step that ended the rollout counts (an
    alternative to EOS goes on writing). Left out, as their programs do what the rollout's does:
    alternatives that spell what it wrote from there on, only tokenized or spaced otherwise (`))` as `)` + `)`,
    `y+1` for `y + 1`, a blank line more or fewer), and steps inside a comment that no code
    follows (a comment before code stays: it is the model's plan for that code)."""
    before = search.decode(node.tokens)
    pieces = [search.decode([token]) for token in rolled]
    idle = _idle_steps(before, pieces)
    last = len(rolled) + (reason == "eos")
    line = before.rpartition("\n")[2]  # the text of the line step i starts on, before it
    reach = 1.0  # the model's probability of the rollout's tokens before step i, given the node
    children = []
    for i, (likely, chances) in enumerate(steps.seen[:last]):
        line = (line + pieces[i - 1]).rpartition("\n")[2] if i else line
        chosen = rolled[i] if i < len(rolled) else likely[0]
        tokens, probabilities = likely[: search.config.top_k], chances[: search.config.top_k]
        if not (i < len(rolled) and idle[i]):
            prefix = (*node.tokens, *rolled[:i])
            inner = bool(line.strip())
            rest = _layout("".join(pieces[i:]), inner)
            children += [
                _Node((*prefix, t), reach * p, node)
                for t, p in zip(tokens, probabilities)
                if t != chosen and p > 0 and not _spells(rest, _layout(search.decode([t]), inner))
            ]
        # A token refined away from (or sampled outside) the likeliest has at most the last one's probability.
        reach *= dict(zip(likely, chances)).get(chosen, chances[-1])
    return children


def _spells(rest: str, start: str) -> bool:
    """Whether `rest` begins with `start`, not in the middle of a name (` num` does not spell
    ` numbers`: its name may end there)."""
    if not rest.startswith(start):
        return False
    cut_name = start[-1:].isidentifier() or start[-1:].isdigit()
    follows = rest[len(start) : len(start) + 1]
    return not (cut_name and (follows.isidentifier() or follows.isdigit()))


def _layout(text: str, mid_line: bool) -> str:
    """`text` without blank lines and without the spaces beside a symbol inside a line, which
    change nothing a program does; indentation and the space between two names stay.
    `mid_line`: `text` starts after code on its line, so its leading spaces are inside a line."""
    text = text.lstrip(" \t") if mid_line else text
    return _INNER_SPACE.sub("", _BLANK_LINE.sub("", text))


_BLANK_LINE = re.compile(r"\n[ \t]*(?=\n)")
_INNER_SPACE = re.compile(r"(?<=[^\w\s])[ \t]+|(?<=\S)[ \t]+(?=[^\w\s])")  # beside a symbol: `y + 1` is `y+1`


def _idle_steps(before: str, pieces: list[str]) -> list[bool]:
    """For each token's text in `pieces` (after `before`), whether it starts inside a comment
    after which no code comes."""
    lexer = Lexer()
    for c in before:
        lexer.feed(c)
    in_comment, last_code = [], -1
    for i, piece in enumerate(pieces):
        in_comment.append(lexer.mode == "comment")
        for c in piece:
            if lexer.mode != "comment" and not c.isspace() and not (lexer.mode == "code" and c == "#"):
                last_code = i
            lexer.feed(c)
    return [inside and i > last_code for i, inside in enumerate(in_comment)]


def _guide_at(node: _Node) -> Guide | None | _Unknown:
    """The guide after `node.tokens`: its parent's, advanced along the chain between them. The
    node's own token came from the parent rollout's guided top-k; a guide that checks some rules
    only on choice (`refine`) is asked here, and _UNKNOWN means it refuses the token."""
    if node.guide is _UNKNOWN:
        assert node.parent is not None  # the root's guide is given
        guide = _guide_at(node.parent)
        assert guide is not _UNKNOWN  # the parent's was worked out before its rollout made this node
        for token in node.tokens[len(node.parent.tokens) : -1]:
            guide = guide.advance(token) if guide is not None else None
        last = node.tokens[-1]
        if guide is not None and refine(guide, last) is not None:
            return _UNKNOWN
        node.guide = guide.advance(last) if guide is not None else None
    return node.guide


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
