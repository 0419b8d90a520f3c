"""Teacher forcing over a window of code: at each position, the entropy of the model's next-token
distribution and whether its first choice is not the true next token (what `guidecode calibrate`
fits its threshold to, here or on Ray workers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, cast

import torch

from decoders.rerank import entropies

if TYPE_CHECKING:
    from transformers import PreTrainedModel

ROWS = 256  # positions per output-layer slice: [256, 150k] float32 logits are 150 MB, a whole window's 600 MB


# The entropy the decoding gate compares with the threshold, batched (decoders/rerank.py).
token_entropy = entropies


@torch.inference_mode()
def score_window(model: torch.nn.Module, ids: Sequence[int], rows: int = ROWS, context: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """For each position but the last, from position `context` on (those before it are read as
    context only, and cost no output layer): (entropy of the next-token distribution, argmax !=
    next token), as CPU tensors [len(ids) - 1 - context] float32 and bool. One forward pass; the
    output layer runs over `rows` positions at a time, so no [tokens, vocab] tensor lives longer
    than a slice."""
    device = next(model.parameters()).device
    model = cast("PreTrainedModel", model)  # a transformers causal LM, held as a Module by LoadedModel
    input_ids = torch.tensor([list(ids)], dtype=torch.long, device=device)  # [1, tokens]
    hidden = model.get_decoder()(input_ids=input_ids).last_hidden_state[0, context:-1]  # [tokens - 1 - context, hidden]
    targets = input_ids[0, context + 1 :]  # [tokens - 1 - context]
    head = model.get_output_embeddings()
    assert head is not None  # a causal LM has its output layer
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2 squashes its logits
    entropies, wrong = [], []
    for start in range(0, hidden.shape[0], rows):
        logits = head(hidden[start : start + rows]).float()  # [rows, vocab], as the decoding loop sees them
        if cap:
            logits = torch.tanh(logits / cap) * cap
        entropies.append(token_entropy(logits))
        wrong.append(logits.argmax(-1) != targets[start : start + rows])
    return torch.cat(entropies).cpu(), torch.cat(wrong).cpu()
