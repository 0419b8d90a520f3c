"""Beam search over the engine's sessions, under the same guides and stop rules as the one loop.

Scores are sums of the model's log-probabilities (log-softmax of the raw logits, as transformers
scores beams): a guide narrows which tokens a beam may take, it does not renormalise. Each round,
every live beam offers its `width` best tokens among those its own guide allows (chosen as the
greedy verifier chooses, `refine` included, so width 1 is greedy decoding token for token); the
best `width` candidates that do not end stay live, and those that end on the way (EOS, a stop
rule's cut, the token budget) join the finished beams, ranked by score / length ** length_penalty.

All live beams run in one forward pass per round (decoders/branches.py): they share the
session's cache as their prefix and live as branches of one scratch fork of it, each seeing its
own tokens only, so a round costs about one decoding step whatever the width, and the logits are
those separate sessions would give (bit for bit where `Engine.exact` holds). The session itself is
left as it was.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .branches import Branches
from .engine import Engine, Interrupted, Session
from .guides import Guide, best_allowed
from .loop import CancelFlag, GenerationResult, decode
from .stopping import StopReason, StopRules
from .streaming import TextSink, TextStream


@dataclass(frozen=True)
class Beam:
    """A finished hypothesis."""

    tokens: tuple[int, ...]  # generated tokens; an ending EOS is not among them, as in `generate`
    text: str  # cut where a stop rule said
    score: float  # sum of the model's log-probabilities of `tokens` (and of the EOS that ended it)
    normalized: float  # score / max(len(tokens), 1) ** length_penalty: what beams are ranked by
    stop_reason: StopReason


@dataclass
class BeamResult(GenerationResult):
    """The best beam's text, tokens and stop reason, and every finished beam kept, best first."""

    beams: list[Beam] = field(default_factory=list)  # at most `width`


@dataclass
class _Live:
    branch: int  # its branch in the search's Branches
    logits: torch.Tensor  # [vocab], the model's logits after the last of `tokens`
    guide: Guide | None  # advanced along `tokens`
    tokens: tuple[int, ...]
    score: float


@dataclass(frozen=True)
class _Candidate:
    parent: _Live
    token: int
    score: float  # the parent's score plus this token's log-probability


def beam_search(
    engine: Engine,
    session: Session,
    tokenizer,
    stop: StopRules,
    width: int,
    guide: Guide | None = None,
    length_penalty: float = 1.0,
    cancel: CancelFlag | None = None,
    on_text: TextSink | None = None,
) -> BeamResult:
    """Beam search continuing `session` until `width` beams have finished and no live beam can
    beat the worst of them, or no live beam is left.

    `session` is left as it was. `on_text` is called once, with the final text: until the
    search ends any beam may still win, so there is nothing safe to stream earlier.
    """
    if width < 1:
        raise ValueError(f"beam width must be at least 1, got {width}")
    start = time.perf_counter()
    branches = Branches(engine, session, 1)  # branch 0, with no node yet: the root beam
    live = [_Live(0, session.next_logits, guide, (), 0.0)]
    finished: list[Beam] = []
    cancelled = False
    while True:
        chosen = _select(live, width, tokenizer, stop, length_penalty, finished)
        if not chosen or _settled(finished, chosen, width, length_penalty):
            break
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        try:
            live = _advance(branches, live, chosen, cancel)
        except Interrupted:  # only the scratch fork is half-written
            cancelled = True
            break
    best = finished[0] if finished else _as_beam(max(chosen, key=lambda c: c.score), tokenizer, length_penalty)
    TextStream(on_text, stop).finish(best.text)
    reason = "cancelled" if cancelled else best.stop_reason
    seconds = time.perf_counter() - start
    return BeamResult(best.text, list(best.tokens), reason, seconds, session.prompt_length, branches.passes, beams=finished)


def _select(live: list[_Live], width: int, tokenizer, stop: StopRules, length_penalty: float, finished: list[Beam]) -> list[_Candidate]:
    """The best `width` candidates that stay live, best first; those that end before them join `finished`."""
    candidates: list[_Candidate] = []
    for beam in live:
        logprobs = torch.log_softmax(beam.logits.float(), dim=-1)  # [vocab]
        for token in best_allowed(beam.logits, beam.guide, width):
            candidates.append(_Candidate(beam, token, beam.score + float(logprobs[token])))
    candidates.sort(key=lambda c: c.score, reverse=True)
    chosen: list[_Candidate] = []
    for candidate in candidates:
        if len(chosen) == width:
            break
        if (ended := _ending(candidate, tokenizer, stop, length_penalty)) is not None:
            _keep(finished, ended, width)
        else:
            chosen.append(candidate)
    return chosen


def _ending(candidate: _Candidate, tokenizer, stop: StopRules, length_penalty: float) -> Beam | None:
    """The finished beam if `candidate` ends its sequence, by the checks every decoder makes."""
    parent = candidate.parent
    taken = stop.take(lambda ids: decode(tokenizer, ids), list(parent.tokens), candidate.token)
    if taken.reason is None:
        return None
    tokens = parent.tokens if taken.reason == "eos" else (*parent.tokens, candidate.token)
    return Beam(tokens, taken.text, candidate.score, _normalized(candidate.score, len(tokens), length_penalty), taken.reason)


def _as_beam(candidate: _Candidate, tokenizer, length_penalty: float) -> Beam:
    """A live candidate as a beam, when a cancelled search has nothing finished to return."""
    tokens = (*candidate.parent.tokens, candidate.token)
    normalized = _normalized(candidate.score, len(tokens), length_penalty)
    return Beam(tokens, decode(tokenizer, list(tokens)), candidate.score, normalized, "cancelled")


def _normalized(score: float, length: int, length_penalty: float) -> float:
    return score / max(length, 1) ** length_penalty  # an EOS first leaves 0 tokens: counted as 1


def _keep(finished: list[Beam], beam: Beam, width: int) -> None:
    """Add `beam`, keeping the best `width`, best first (in place)."""
    finished.append(beam)
    finished.sort(key=lambda b: b.normalized, reverse=True)
    del finished[width:]


def _settled(finished: list[Beam], chosen: list[_Candidate], width: int, length_penalty: float) -> bool:
    """Whether no live beam can displace the worst of `width` finished ones.

    As transformers does by default, a live beam is judged as if it ended now: all live beams
    have the same length, and further tokens only lower a score, so this is exact for
    length_penalty <= 0; above 0 longer beams are favoured and it is the usual heuristic (the
    true bound, at max_new_tokens, would run nearly every search to the token budget).
    """
    if len(finished) < width:
        return False
    length = len(chosen[0].parent.tokens) + 1
    return _normalized(chosen[0].score, length, length_penalty) <= finished[-1].normalized


def _advance(branches: Branches, live: list[_Live], chosen: list[_Candidate], cancel: CancelFlag | None) -> list[_Live]:
    """Run every chosen token through the model in one forward pass, each after its own beam."""
    parents = [c.parent.branch for c in chosen]
    ids, logits = branches.spawn(parents, [c.token for c in chosen], cancel)  # logits: [len(chosen), vocab]
    branches.drop(sorted({beam.branch for beam in live}))
    children = []
    for branch, row, candidate in zip(ids, logits, chosen):
        parent = candidate.parent
        guide = parent.guide.advance(candidate.token) if parent.guide is not None else None
        children.append(_Live(branch, row, guide, (*parent.tokens, candidate.token), candidate.score))
    return children
