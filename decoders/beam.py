"""Beam search over the engine's sessions, under the same guides and stop rules as the one loop.

Scores are sums of the model's log-probabilities (log-softmax of the raw logits, as transformers
scores beams): a guide narrows which tokens a beam may take, it does not renormalise. Each round,
every live beam offers its `width` best tokens among those its own guide allows (chosen as the
greedy verifier chooses, `refine` included, so width 1 is greedy decoding token for token); the
best `width` candidates that do not end stay live, and those that end on the way (EOS, a stop
rule's cut, the token budget) join the finished beams, ranked by score / length ** length_penalty.

The engine is batch-1, so a round costs one forward pass per live beam. A beam's session is
forked only for its second and later surviving children; the last child takes the parent's
session, so `width` 1 forks nothing. A fork shares its parent's key and value tensors (see
Engine.fork), so memory grows by one layer holder per fork plus each beam's new positions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from .engine import Engine, Interrupted, Session
from .guides import Guide, best_allowed
from .loop import CancelFlag, GenerationResult, StopReason, decode
from .stopping import StopRules
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
    session: Session  # has run every one of `tokens`: its next_logits follow the last
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

    `session` is advanced in place as one of the beams (after a cancellation it may hold a
    half-written cache, as with `generate`). `on_text` is called once, with the final text:
    until the search ends any beam may still win, so there is nothing safe to stream earlier.
    """
    if width < 1:
        raise ValueError(f"beam width must be at least 1, got {width}")
    start = time.perf_counter()
    live = [_Live(session, guide, (), 0.0)]
    finished: list[Beam] = []
    passes, cancelled = 0, False
    while True:
        chosen = _select(live, width, tokenizer, stop, length_penalty, finished)
        if not chosen or _settled(finished, chosen, width, length_penalty):
            break
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        try:
            live = _advance(engine, chosen, cancel)
        except Interrupted:  # that beam's cache is half-written: the caller must drop `session`
            cancelled = True
            break
        passes += len(chosen)
    best = finished[0] if finished else _as_beam(max(chosen, key=lambda c: c.score), tokenizer, length_penalty)
    TextStream(on_text, stop).finish(best.text)
    reason = "cancelled" if cancelled else best.stop_reason
    seconds = time.perf_counter() - start
    return BeamResult(best.text, list(best.tokens), reason, seconds, session.prompt_length, passes, beams=finished)


def _select(
    live: list[_Live], width: int, tokenizer, stop: StopRules, length_penalty: float, finished: list[Beam]
) -> list[_Candidate]:
    """The best `width` candidates that stay live, best first; those that end before them join `finished`."""
    candidates: list[_Candidate] = []
    for beam in live:
        logprobs = torch.log_softmax(beam.session.next_logits.float(), dim=-1)  # [vocab]
        for token in best_allowed(beam.session.next_logits, beam.guide, width):
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
    """The finished beam if `candidate` ends its sequence, by the checks `generate` makes in its order."""
    parent = candidate.parent
    if candidate.token in stop.eos_token_ids:
        text = decode(tokenizer, list(parent.tokens))
        return Beam(parent.tokens, text, candidate.score, _normalized(candidate.score, len(parent.tokens), length_penalty), "eos")
    tokens = (*parent.tokens, candidate.token)
    text = decode(tokenizer, list(tokens))
    reason: StopReason | None = None
    if (cut := stop.cut(text)) is not None:
        text, reason = text[:cut], "stop"
    elif len(tokens) >= stop.max_new_tokens:
        reason = "max_tokens"
    if reason is None:
        return None
    return Beam(tokens, text, candidate.score, _normalized(candidate.score, len(tokens), length_penalty), reason)


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


def _advance(engine: Engine, chosen: list[_Candidate], cancel: CancelFlag | None) -> list[_Live]:
    """Run each chosen token through the model on its own session: one forward pass each.

    A parent's session is forked for all its surviving children but the last, which takes the
    session itself (a fork shares the parent's tensors, so the parent must not be stepped first).
    """
    children: dict[int, list[_Candidate]] = {}
    for candidate in chosen:
        children.setdefault(id(candidate.parent), []).append(candidate)
    live: list[_Live] = []
    for group in children.values():
        parent = group[0].parent
        sessions = [engine.fork(parent.session) for _ in group[:-1]] + [parent.session]
        for candidate, session in zip(group, sessions):
            engine.step(session, candidate.token, cancel)
            guide = parent.guide.advance(candidate.token) if parent.guide is not None else None
            live.append(_Live(session, guide, (*parent.tokens, candidate.token), candidate.score))
    return live
