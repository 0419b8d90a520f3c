"""The one decoding loop: every decoder, guide and stop rule plugs in here.

Per step: check the cancel flag, mask the logits with the guide, choose a token, check EOS,
advance the guide, check the text rules, stream, and only then run the forward pass for the
chosen token (so a step that ends decoding costs no forward pass).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from .engine import Engine, Interrupted, Session
from .guides import Guide, apply_mask
from .sampling import SamplingConfig, choose, make_generator
from .stopping import StopRules
from .streaming import TextSink, TextStream

StopReason = Literal["eos", "max_tokens", "stop", "cancelled"]

# A threading.Event: set it from any thread; the loop checks it before every step.
CancelFlag = threading.Event


@dataclass
class GenerationResult:
    text: str  # the generated text, cut where a stop rule said
    tokens: list[int]  # every generated token (the last may extend past the cut)
    stop_reason: StopReason
    seconds: float
    prompt_tokens: int


def decode(tokenizer, tokens: list[int]) -> str:
    return tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def generate(
    engine: Engine,
    session: Session,
    tokenizer,
    sampling: SamplingConfig = SamplingConfig(),
    stop: StopRules = StopRules(),
    guide: Guide | None = None,
    cancel: CancelFlag | None = None,
    on_text: TextSink | None = None,
) -> GenerationResult:
    """Continue `session` until a stop rule fires; `session` is advanced in place."""
    start = time.perf_counter()
    generator = make_generator(sampling)
    stream = TextStream(on_text, stop)
    new: list[int] = []
    text, reason = "", "max_tokens"
    while len(new) < stop.max_new_tokens:
        if cancel is not None and cancel.is_set():
            reason = "cancelled"
            break
        logits = apply_mask(session.next_logits, guide.allowed() if guide is not None else None)  # [vocab]
        token = choose(logits, sampling, generator)
        if token in stop.eos_token_ids:
            reason = "eos"
            break
        new.append(token)
        guide = guide.advance(token) if guide is not None else None
        text = decode(tokenizer, new)
        if (cut := stop.cut(text)) is not None:
            text, reason = text[:cut], "stop"
            break
        stream.push(text)
        if len(new) < stop.max_new_tokens:
            try:
                engine.step(session, token, cancel)
            except Interrupted:  # the session's cache is half-written: the caller must drop it
                reason = "cancelled"
                break
    stream.finish(text)
    seconds = time.perf_counter() - start
    return GenerationResult(text, new, reason, seconds, prompt_tokens=session.prompt_length)
