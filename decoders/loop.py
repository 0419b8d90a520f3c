"""The one decoding loop: every decoder, guide, stop rule and drafter plugs in here.

Per round: a drafter (if any) proposes a tree of tokens to follow the last chosen token; one
forward pass runs the last token and the tree (with no drafter: the last token alone, a plain
step); the verifier chooses tokens from those logits under the guide, accepting drafted ones
while they match; each chosen token then goes through the same checks in order: EOS, the
budget, the guide, the text rules, streaming. The chosen tokens are exactly those plain decoding
chooses, since every choice is made from the same logits under the same masks (the engine makes
a forward pass over several tokens give the logits of single steps, bit for bit). A round that
ends decoding costs no forward pass.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .draft import EMPTY, Drafter, DraftTree, Verified
from .engine import Engine, Interrupted, Session
from .guides import Guide
from .rerank import Reranker, Written
from .sampling import SamplingConfig, make_generator
from .stopping import StopReason, StopRules
from .streaming import TextSink, TextStream
from .verify import accept

# A threading.Event: set it from any thread; the loop checks it before every step.
CancelFlag = threading.Event


@dataclass
class GenerationResult:
    text: str  # the generated text, cut where a stop rule said
    tokens: list[int]  # every generated token (the last may extend past the cut)
    stop_reason: StopReason
    seconds: float
    prompt_tokens: int
    forward_passes: int = 0  # verifications (a plain step is one with an empty draft)
    drafted: int = 0  # drafted tokens run through the model
    accepted: int = 0  # drafted tokens that were kept

    @property
    def accepted_per_pass(self) -> float:
        return self.accepted / self.forward_passes if self.forward_passes else 0.0


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
    drafter: Drafter | None = None,
    reranker: Reranker | None = None,
    generated: Sequence[int] = (),
    on_step: Callable[[torch.Tensor], None] | None = None,
) -> GenerationResult:
    """Continue `session` until a stop rule fires; `session` is advanced in place. A `reranker`
    (greedy only) decides the steps it finds uncertain; the verifier stops at them.

    `generated`: tokens of this generation already at the end of `session` (a search resuming
    from a node of its tree): they count for the text rules and the budget, and lead the result's
    tokens and text, as if this call had chosen them. `guide` must have seen them."""
    if reranker is not None and not sampling.greedy:
        raise ValueError("adaptive reranking decides greedy steps; it cannot be combined with sampling (temperature > 0)")
    start = time.perf_counter()
    generator = make_generator(sampling)
    stream = TextStream(on_text, stop)
    new: list[int] = list(generated)
    text, reason = decode(tokenizer, new) if new else "", None
    passes = drafted = kept = 0
    pause = _gate(reranker, on_step)
    # The first token is chosen before the first cancel check (it costs no forward pass), so a
    # request cancelled at once still returns it, as beam search does; `written` below repeats
    # this choice after a reranker's run, after that check.
    verdict = accept(session.next_logits[None], EMPTY, guide, sampling, generator, pause)
    chosen, paused = verdict.tokens, verdict.paused
    written = False  # the chosen tokens are a reranker's `Written` run
    hint: list[int] = []  # a reranker's lookahead after its choice, drafted next
    while True:
        for token in chosen:
            taken = stop.take(lambda ids: decode(tokenizer, ids), new, token)
            reason = taken.reason
            if reason == "eos":
                break
            new.append(token)
            guide = guide.advance(token) if guide is not None else None
            text = taken.text
            if reason == "stop":
                break
            stream.push(text)
            if reason is not None:
                break
        if reason is not None:
            break
        if cancel is not None and cancel.is_set():
            reason = "cancelled"
            break
        if paused:  # `session` ends at the uncertain step (chosen tokens were drafted and kept)
            choice, paused = reranker.choose(session, guide), False
            if isinstance(choice, Written):
                chosen, written = choice.tokens, True
                continue
            chosen = [choice]
            # What the reranker already saw follow its choice is the best draft there is.
            hint = reranker.hint() if drafter is not None else []
            continue
        if written:  # the session holds the chosen tokens already, and the logits after them
            verdict = accept(session.next_logits[None], EMPTY, guide, sampling, generator, pause)
            chosen, paused, written = verdict.tokens, verdict.paused, False
            continue
        # Every verification adds at least one token, so a draft deeper than what is left is wasted.
        depth = stop.max_new_tokens - len(new) - 1
        if hint:
            tree, hint, own = DraftTree.chain(hint[:depth]), [], False
        else:
            tree, own = drafter.propose(session.tokens + [new[-1]], depth) if drafter else EMPTY, True
        try:
            logits = engine.verify(session, new[-1], tree, cancel)  # [1 + len(tree), vocab]
        except Interrupted:  # the session's cache is half-written: the caller must drop it
            reason = "cancelled"
            break
        verdict = accept(logits, tree, guide, sampling, generator, pause)
        if drafter is not None and own:  # a drafter learns from its own proposals only
            drafter.observe(Verified(session.tokens, tree, logits, verdict.path))
        engine.keep(session, tree, verdict.path, verdict.next_logits)
        passes, drafted, kept = passes + 1, drafted + len(tree), kept + len(verdict.path)
        chosen, paused = verdict.tokens, verdict.paused
    stream.finish(text)
    seconds = time.perf_counter() - start
    return GenerationResult(text, new, reason, seconds, session.prompt_length, passes, drafted, kept)


def _gate(reranker: Reranker | None, on_step: Callable[[torch.Tensor], None] | None) -> Callable[..., bool] | None:
    """What the verifier asks at each step before choosing: show it to `on_step`, then may the
    reranker have it? The verifier asks exactly once per chosen token, so both see every step."""
    if on_step is None:
        return reranker.pauses if reranker is not None else None

    def gate(masked: torch.Tensor, guide: Guide | None = None, row: torch.Tensor | None = None) -> bool:
        on_step(masked)
        return reranker.pauses(masked, guide, row) if reranker is not None else False

    return gate
