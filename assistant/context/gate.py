"""Repository context only where the model alone is unsure of the line it writes.

Selective retrieval, as in FLARE (retrieve when a sentence holds a low-probability token) and
Repoformer (retrieve only when the context is likely to help): a completion is first written
without repository context while `UnsureLine` watches its first line. If every step of that line
chose among tokens whose most likely one had at least `threshold` probability, that completion
stands; at the first step below it, decoding stops there and the assistant writes the completion
again with the context. On the repository benchmark (docs/context.md), the small model wrote
lines it knew less well with the context before it (a sibling file's names pulled it away), and
the lines it was unsure of better: the gate keeps the first and gives the context to the second.

The gate plugs into the one decoding loop twice: `observe` is its `on_step` (each chosen token's
guided logits, once per chosen token, in order, also under speculation), `stop` one of its stop
rules' predicates (asked once per chosen token that is not an end of sequence, in the same order).
So the k-th call of `stop` is about the token of the k-th call of `observe`, and the decision is
the same with and without speculation. One exception: a reranker that decides a paused step may
write a whole name at once (the monitors' name choice), and only its first token had a step; the
tokens after it find no observation waiting and are not counted (the lookahead chose them), which
keeps the next token aligned with its own step. Streamed text is held back until the gate has decided
(`Held`), so text of an answer that is written again is never shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from decoders.streaming import TextSink


@dataclass
class UnsureLine:
    threshold: float  # a step whose most likely token is below this probability is unsure
    tops: list[float] = field(default_factory=list)  # each step's top probability, in step order
    taken: int = 0  # tokens `stop` has been shown
    before: str = ""  # the text before the latest token
    unsure: bool = False  # a step of the first line was unsure: write it again with the context
    settled: bool = False  # the first line was written with no unsure step

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1:
            raise ValueError(f"the context's confidence threshold must be in (0, 1], got {self.threshold}")

    def observe(self, masked: torch.Tensor) -> None:
        """A step's guided logits ([vocab], -inf where a guide rules a token out)."""
        self.tops.append(float(torch.softmax(masked.float(), dim=-1).max()))

    def stop(self, text: str) -> int | None:
        """The loop's predicate: `text` is the completion up to the latest token; stop (keeping it
        all, it is written again) at the first unsure step of the first line."""
        step, before = self.taken, self.before
        self.before = text
        observed = step < len(self.tops)
        if observed:
            self.taken = step + 1
        if self.settled or self.unsure:
            return None
        if _line_written(before):  # this token comes after the first line: that line was sure
            self.settled = True
            return None
        if observed and self.tops[step] < self.threshold:
            self.unsure = True
            return len(text)
        return None


@dataclass
class Held:
    """A text sink that holds the stream back until `gate` has decided: passed on once the first
    line was written sure, dropped if it was not."""

    gate: UnsureLine
    sink: TextSink
    held: list[str] = field(default_factory=list)

    def __call__(self, chunk: str) -> None:
        if self.gate.unsure:
            return
        self.held.append(chunk)
        if self.gate.settled:
            self.flush()

    def flush(self) -> None:
        """Also when decoding ended: an end of sequence or the token budget can end a completion
        before its first line does, with no unsure step."""
        if not self.gate.unsure and self.held:
            self.sink("".join(self.held))
            self.held.clear()


def _line_written(text: str) -> bool:
    """Whether `text` holds a whole line with code: blank lines before it (a completion that
    starts on the next line) do not count."""
    return "\n" in text.lstrip()
