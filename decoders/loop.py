"""The one decoding loop: every decoder, guide, stop rule and drafter plugs in here.

Per round: a drafter (if any) proposes a tree of tokens to follow the last chosen token; one
forward pass runs the last token and the tree (with no drafter: the last token alone, a plain
step); the verifier chooses tokens from those logits under the guide, accepting drafted ones
while they match; each chosen token then goes through the same checks in order: EOS, the
budget, the guide, the text rules, streaming. The chosen tokens are exactly those plain decoding
chooses, since every choice is made from the same logits under the same masks (the engine makes
a forward pass over several tokens give the logits of single steps, bit for bit). A round that
ends decoding costs no forward pass.

What one round hands the next is a `RoundState`; what plugs into the loop for a call is a
`Plugins`. A round takes the tokens chosen last (`_Loop.take`), then chooses the next ones in one
of three ways, by where the session stands (`Then`): from a forward pass (`verify`), by the
reranker at an uncertain step (`rerank`), or from logits the session already holds (`choose`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from .draft import EMPTY, Drafter, DraftTree, Verified
from .engine import Engine, Interrupted, Session
from .guides import Guide
from .rerank import Reranker, Written
from .sampling import SamplingConfig, make_generator
from .stopping import StopReason, StopRules
from .streaming import TextSink, TextStream
from .verify import Pause, accept

# A threading.Event: set it from any thread; the loop checks it before every round.
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


@dataclass(frozen=True, kw_only=True)
class Plugins:
    """What plugs into the loop for one call of `generate`; each has a default that leaves it out
    (greedy, the default budget, no guide, no reranker, no drafter, no cancel, no streaming)."""

    sampling: SamplingConfig = SamplingConfig()
    stop: StopRules = StopRules()
    guide: Guide | None = None  # as of the first token to choose (resuming: it has seen `generated`)
    reranker: Reranker | None = None  # decides the steps it finds uncertain; greedy only
    drafter: Drafter | None = None  # proposes tokens for one forward pass to verify together
    cancel: CancelFlag | None = None  # checked before every round, and by the engine during a pass
    on_text: TextSink | None = None  # the text as it grows, never what a stop rule may take back
    on_step: Callable[[torch.Tensor], None] | None = None  # each step's guided logits [vocab], before the choice

    def __post_init__(self) -> None:
        if self.reranker is not None and not self.sampling.greedy:
            raise ValueError("adaptive reranking decides greedy steps; it cannot be combined with sampling (temperature > 0)")


# How a round chooses the tokens after those it took, by where the session stands then:
#   "verify": the session ends before the last taken token; a forward pass runs it (and a draft)
#   "rerank": the session holds every taken token and ends at a step the reranker decides
#   "choose": the session holds every taken token and the logits after them (the prompt's, or a
#             reranker's `Written` run's): the verifier chooses from those, with no forward pass
Then = Literal["verify", "rerank", "choose"]


@dataclass(frozen=True)
class RoundState:
    """What one round of the loop hands the next. A value: a round returns a new one and leaves
    the one it was given, lists included, as it was."""

    tokens: list[int]  # the generation's tokens taken so far (`generated` first, when resuming)
    text: str  # their text, cut where a text rule said
    guide: Guide | None  # the guide after `tokens` (it has not seen `chosen`)
    then: Then  # how the round after this one's tokens are taken chooses the next
    chosen: list[int] = field(default_factory=list)  # chosen, not yet taken through the stop checks
    hint: list[int] = field(default_factory=list)  # a reranker's lookahead past its choice: the next draft
    reason: StopReason | None = None  # why decoding ended; None while it goes on
    passes: int = 0  # forward passes (verifications; a plain step is one with an empty draft)
    drafted: int = 0  # drafted tokens run through the model
    accepted: int = 0  # drafted tokens kept


def decode(tokenizer, tokens: list[int]) -> str:
    return tokenizer.decode(tokens, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def generate(engine: Engine, session: Session, tokenizer, plugins: Plugins = Plugins(), generated: Sequence[int] = ()) -> GenerationResult:
    """Continue `session` until a stop rule fires, with what `plugins` plugs in; `session` is
    advanced in place. A reranker decides the steps it finds uncertain; the verifier stops at them.

    `generated`: tokens of this generation already at the end of `session` (a search resuming
    from a node of its tree): they count for the text rules and the budget, and lead the result's
    tokens and text, as if this call had chosen them. `plugins.guide` must have seen them."""
    start = time.perf_counter()
    loop = _Loop(engine, session, tokenizer, plugins)
    tokens = list(generated)
    state = RoundState(tokens, decode(tokenizer, tokens) if tokens else "", plugins.guide, "choose")
    # The first token is chosen before the first cancel check (it costs no forward pass), so a
    # request cancelled at once still returns it, as beam search does.
    state = loop.take(loop.choose(state))
    while state.reason is None:
        state = loop.take(loop.next_tokens(state))
    loop.stream.finish(state.text)
    seconds = time.perf_counter() - start
    return GenerationResult(state.text, state.tokens, state.reason, seconds, session.prompt_length, state.passes, state.drafted, state.accepted)


class _Loop:
    """What stays fixed through one call of `generate`, and the steps of a round, each from one
    `RoundState` to the next. `verify` is the loop's one forward pass (a reranker's `choose` may
    run its own); `take` is the one place tokens join the result."""

    def __init__(self, engine: Engine, session: Session, tokenizer, plugins: Plugins):
        self.engine, self.session, self.tokenizer, self.plugins = engine, session, tokenizer, plugins
        self.generator = make_generator(plugins.sampling)  # None when greedy
        self.pause = _gate(plugins.reranker, plugins.on_step)
        self.stream = TextStream(plugins.on_text, plugins.stop)

    def decode(self, tokens: list[int]) -> str:
        return decode(self.tokenizer, tokens)

    def take(self, state: RoundState) -> RoundState:
        """`state.chosen` through the checks, token by token: EOS ends decoding without the token;
        otherwise it joins the result and the guide advances over it; a text rule's cut or the
        budget then ends decoding, and text no rule can take back streams. Chosen tokens after
        the one that ends decoding are dropped."""
        tokens, text, guide, reason = list(state.tokens), state.text, state.guide, state.reason
        for token in state.chosen:
            taken = self.plugins.stop.take(self.decode, tokens, token)
            reason = taken.reason
            if reason == "eos":
                break
            tokens.append(token)
            guide = guide.advance(token) if guide is not None else None
            text = taken.text
            if reason == "stop":  # the text was cut: it streams at the end, once final
                break
            self.stream.push(text)
            if reason is not None:
                break
        return replace(state, tokens=tokens, text=text, guide=guide, chosen=[], reason=reason)

    def next_tokens(self, state: RoundState) -> RoundState:
        """The tokens to take after those `state` took, chosen as `state.then` says; a cancel
        ends decoding first."""
        cancel = self.plugins.cancel
        if cancel is not None and cancel.is_set():
            return replace(state, reason="cancelled")
        if state.then == "rerank":
            return self.rerank(state)
        if state.then == "choose":
            return self.choose(state)
        return self.verify(state)

    def choose(self, state: RoundState) -> RoundState:
        """The verifier's choice from the logits the session holds: no forward pass."""
        verdict = accept(self.session.next_logits[None], EMPTY, state.guide, self.plugins.sampling, self.generator, self.pause)
        return replace(state, chosen=verdict.tokens, then="rerank" if verdict.paused else "verify")

    def rerank(self, state: RoundState) -> RoundState:
        """The reranker's decision at the uncertain step the session ends at."""
        reranker = self.plugins.reranker
        assert reranker is not None, "only a reranker's gate pauses the verifier"
        choice = reranker.choose(self.session, state.guide)
        if isinstance(choice, Written):  # in the session already, with the logits after it
            return replace(state, chosen=choice.tokens, then="choose")
        # What the reranker already saw follow its choice is the best draft there is.
        hint = reranker.hint() if self.plugins.drafter is not None else []
        return replace(state, chosen=[choice], then="verify", hint=hint)

    def verify(self, state: RoundState) -> RoundState:
        """One forward pass over the last taken token and a draft below it; the verifier's tokens
        from its logits. The session keeps the drafted tokens accepted, not the verifier's own last
        one (the next round's root)."""
        plugins, session = self.plugins, self.session
        # Every verification adds at least one token, so a draft deeper than what is left is wasted.
        tree, proposed = self.draft(state, plugins.stop.max_new_tokens - len(state.tokens) - 1)
        try:
            logits = self.engine.verify(session, state.tokens[-1], tree, plugins.cancel)  # [1 + len(tree), vocab]
        except Interrupted:  # the session's cache is half-written: the caller must drop it
            return replace(state, reason="cancelled")
        verdict = accept(logits, tree, state.guide, plugins.sampling, self.generator, self.pause)
        if plugins.drafter is not None and proposed:  # a drafter learns from its own proposals only
            plugins.drafter.observe(Verified(session.tokens, tree, logits, verdict.path))
        self.engine.keep(session, tree, verdict.path, verdict.next_logits)
        return replace(
            state,
            chosen=verdict.tokens,
            then="rerank" if verdict.paused else "verify",
            hint=[],
            passes=state.passes + 1,
            drafted=state.drafted + len(tree),
            accepted=state.accepted + len(verdict.path),
        )

    def draft(self, state: RoundState, depth: int) -> tuple[DraftTree, bool]:
        """The tree to verify below the last taken token, at most `depth` deep, and whether the
        drafter proposed it (a reranker's hint is drafted, but not the drafter's to learn from)."""
        if state.hint:
            return DraftTree.chain(state.hint[:depth]), False
        drafter = self.plugins.drafter
        if drafter is None:
            return EMPTY, False
        return drafter.propose(self.session.tokens + [state.tokens[-1]], depth), True


def _gate(reranker: Reranker | None, on_step: Callable[[torch.Tensor], None] | None) -> Pause | None:
    """What the verifier asks at each step before choosing: show it to `on_step`, then may the
    reranker have it? The verifier asks exactly once per chosen token, so both see every step."""
    if on_step is None:
        return reranker.pauses if reranker is not None else None

    def gate(masked: torch.Tensor, guide: Guide | None, row: torch.Tensor) -> bool:
        on_step(masked)
        return reranker.pauses(masked, guide, row) if reranker is not None else False

    return gate
