"""Several sampled continuations of one session, decoded side by side.

pass@k needs k samples of each prompt. Drawn one after another they cost k decoding runs; here
they run as branches of one scratch fork of the session (decoders/branches.py): one forward pass
per step for all of them, each seeing only its own tokens. Each sample chooses its tokens as
`generate` does without a drafter (the same verifier, guide and stop checks, its own generator),
so where `Engine.exact` holds a sample is token for token what `generate` would have drawn with
the same `SamplingConfig`. Speculation is not used: it verifies one sequence, and its rejection
rule draws the random numbers in another order (the same distribution, other tokens).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from .branches import Branches
from .draft import EMPTY
from .engine import Engine, Interrupted, Session
from .guides import Guide
from .loop import CancelFlag, GenerationResult, decode
from .sampling import SamplingConfig, make_generator
from .stopping import StopReason, StopRules
from .verify import accept


@dataclass
class _Sample:
    sampling: SamplingConfig
    generator: torch.Generator | None
    guide: Guide | None  # advanced along `tokens`
    tokens: list[int]
    text: str = ""
    reason: StopReason | None = None


def sample_many(
    engine: Engine,
    session: Session,
    tokenizer,
    samplings: list[SamplingConfig],
    stop: StopRules = StopRules(),
    guide: Guide | None = None,
    cancel: CancelFlag | None = None,
) -> list[GenerationResult]:
    """One continuation of `session` per config in `samplings` (each with its own seed), in that
    order. `session` is left as it was. Each result's `seconds` and `forward_passes` are the
    whole batch's: the passes were shared."""
    if not samplings:
        raise ValueError("sample_many needs at least one sampling config")
    start = time.perf_counter()
    branches = Branches(engine, session, len(samplings))
    samples = [_Sample(s, make_generator(s), guide, []) for s in samplings]
    logits = {b: session.next_logits for b in range(len(samples))}  # branch -> [vocab]
    while logits:
        grow = {b: token for b, row in logits.items() if (token := _choose(samples[b], row, stop, tokenizer)) is not None}
        branches.drop([b for b in logits if b not in grow])  # ended: their nodes may go
        if grow and cancel is not None and cancel.is_set():
            break
        try:
            logits = branches.grow(grow, cancel) if grow else {}
        except Interrupted:  # only the scratch fork is half-written
            break
    for sample in samples:
        sample.reason = sample.reason or "cancelled"
    seconds = time.perf_counter() - start
    return [
        GenerationResult(s.text, s.tokens, s.reason, seconds, session.prompt_length, branches.passes)  # type: ignore[arg-type]
        for s in samples
    ]


def _choose(sample: _Sample, row: torch.Tensor, stop: StopRules, tokenizer) -> int | None:
    """Choose the sample's next token from `row` ([vocab]) and take it; the token if the sample
    goes on (it must run through the model), None if it ended."""
    token = accept(row[None], EMPTY, sample.guide, sample.sampling, sample.generator).tokens[0]
    taken = stop.take(lambda ids: decode(tokenizer, ids), sample.tokens, token)
    sample.reason = taken.reason
    if taken.reason == "eos":
        return None
    sample.tokens.append(token)
    sample.text = taken.text
    sample.guide = sample.guide.advance(token) if sample.guide is not None else None
    return token if taken.reason is None else None
