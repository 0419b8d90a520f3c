"""The one verifier: which drafted tokens the target model accepts, under the guides.

Walk down the tree from the root. At each node the target's logits for that position are masked
by the guide (advanced along the path), exactly as the plain loop would mask them, and a token is
chosen from them:
  greedy:   the token is the masked argmax; accept the child that drafted it, if any.
  sampling: drafts are deterministic (q = a point mass), so for each child c in turn accept with
            probability r(c), where r is the target distribution with earlier rejected children
            removed and renormalised; if all are rejected, sample from r. The token that comes
            out is distributed exactly as p (the standard rejection rule, applied per child).
A guide that checks some rules only on the chosen token (`refine`) may reject it: the token is
chosen again with the tokens it names removed, until one stands. For greedy that is the argmax
under the full rule; for sampling, a draw from M that is rejected is replaced by a draw from the
smaller set, which leaves the distribution restricted to the allowed tokens (rejection sampling).
The walk ends at the first token no child drafted; that token is the target's own and is kept
too, so every verification yields at least one token, the same one plain decoding would choose.
With a `pause` rule (a reranker's uncertainty gate) the walk also ends, before choosing, at the
first position the rule flags: the tokens before it are kept and the caller decides that one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .draft import ROOT, DraftTree
from .guides import Guide, apply_mask, guided, refine
from .sampling import SamplingConfig, probabilities

# Asked at each step before the verifier chooses, with the step's guided logits ([vocab]), the
# guide there and the step's own logits ([vocab]): is this step left to the caller (a reranker)?
Pause = Callable[[torch.Tensor, Guide | None, torch.Tensor], bool]


@dataclass
class Accepted:
    tokens: list[int]  # the accepted drafted tokens, then the target's own next token
    path: list[int]  # the tree indices of the accepted drafted tokens
    next_logits: torch.Tensor  # [vocab] the logits the last token was chosen from (at a pause: the paused step's)
    paused: bool = False  # the walk stopped at an uncertain step, left for the reranker to decide


def accept(
    logits: torch.Tensor,  # [1 + len(tree), vocab]: row 0 after the root, row i + 1 after node i
    tree: DraftTree,
    guide: Guide | None,
    sampling: SamplingConfig,
    generator: torch.Generator | None,
    pause: Pause | None = None,
) -> Accepted:
    tokens: list[int] = []
    path: list[int] = []
    node = ROOT
    while True:
        row = logits[node + 1]  # [vocab]
        masked = guided(row, guide)
        if pause is not None and pause(masked, guide, row):
            return Accepted(tokens, path, row, paused=True)
        children = tree.children(node)
        token, child = _choose(masked, children, sampling, generator)
        while (removed := refine(guide, token)) is not None:
            masked = apply_mask(masked, ~removed.to(masked.device))
            if not torch.isfinite(masked.max()):
                break  # the guides removed everything: keep the last choice rather than stop
            token, child = _choose(masked, children, sampling, generator, drafts=False)
        tokens.append(token)
        if child is None:
            return Accepted(tokens, path, row)
        path.append(child)
        node = child
        guide = guide.advance(token) if guide is not None else None


def _choose(
    masked: torch.Tensor, children: dict[int, int], sampling: SamplingConfig, generator: torch.Generator | None, drafts: bool = True
) -> tuple[int, int | None]:
    if sampling.greedy:
        token = int(torch.argmax(masked))
    elif drafts:
        return _sample_against(masked, children, sampling, generator)
    else:  # a redraw after a refinement: a plain draw from what is left (a drafted child may still match)
        token = int(torch.multinomial(probabilities(masked, sampling).cpu(), 1, generator=generator))
    return token, children.get(token)


def _sample_against(masked: torch.Tensor, children: dict[int, int], sampling: SamplingConfig, generator: torch.Generator | None) -> tuple[int, int | None]:
    """A token distributed as the target's (masked) distribution, accepting a drafted child when possible."""
    residual = probabilities(masked, sampling).cpu()  # [vocab], a fresh tensor: ours to modify
    for token, child in children.items():
        total = float(residual.sum())
        if total <= 0:
            break
        if float(torch.rand((), generator=generator)) * total < float(residual[token]):
            return token, child
        residual[token] = 0.0
    if float(residual.sum()) <= 0:  # every token with mass was drafted and rejected: only rounding gets here
        residual = probabilities(masked, sampling).cpu()
    return int(torch.multinomial(residual, 1, generator=generator)), None
