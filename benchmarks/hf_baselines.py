"""transformers' own generation, as baselines for `guidecode bench speed`.

Each function runs one `model.generate` call on an already loaded causal LM (batch of one, CPU
or GPU) and returns `(new_token_ids, seconds)`:

- only the tokens after the prompt are returned, cut at the first end-of-sequence token, which is
  itself dropped. Plain greedy stops right after an EOS, but the speculative modes accept a whole
  draft at once and could carry tokens past one; cutting makes every mode's output the same
  "answer tokens", so lengths and tokens/s compare across modes and with guidecode's decoders;
- `seconds` times the `generate` call alone (wall clock), prefill included; no warm-up is done
  here, so the caller decides whether to discard a first run.

Decoding is greedy everywhere. A `GenerationConfig` is built from scratch with every sampling and
logits-shaping knob set to its neutral value, because `generate` fills any knob left unset from
the model's own `generation_config.json` (Qwen's hub config sets temperature, top_p, top_k and a
repetition penalty; a repetition penalty changes greedy tokens). Prompt lookup and assisted
generation keep transformers' defaults for their own knobs (n-gram size, draft length schedule,
confidence threshold) apart from `prompt_lookup_num_tokens`.

The model given must be the one transformers loads, untouched: guidecode's engine changes the model
it runs (its own attention, replaced linear forwards, hooks: decoders/preparation.py), so the
benchmark loads a separate copy for these baselines and checks it with `alterations` before timing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import GenerationConfig


def greedy_config(model, max_new_tokens: int, eos_ids: set[int], **extra) -> GenerationConfig:
    """Greedy, with nothing inherited from the model's generation config that could alter tokens."""
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        num_beams=1,
        # Neutral values: the validator treats these as unset, so no "only used in sampling" warnings.
        temperature=1.0,
        top_p=1.0,
        top_k=50,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        pad_token_id=pad_token_id(model, eos_ids),
        eos_token_id=sorted(eos_ids),
        use_cache=True,
        **extra,
    )


# What transformers picks on a CPU load; guidecode's engine registers its own under another name.
STOCK_ATTENTION = ("sdpa", "eager")


def alterations(model: torch.nn.Module, limit: int = 5) -> list[str]:
    """What makes `model` differ from a model as transformers loads it (at most `limit` findings);
    empty when it is stock: stock attention, no forward hooks (its own or global), no forward
    replaced on an instance or on nn.Linear, no attribute of guidecode's (decoders/preparation.py
    names them), no module class from outside torch and transformers."""
    found = []
    attention = getattr(model.config, "_attn_implementation", None)
    if attention not in STOCK_ATTENTION:
        found.append(f"attention implementation {attention!r}")
    if torch.nn.Linear.forward.__module__ != torch.nn.Linear.__module__:
        found.append("nn.Linear.forward replaced for every model")
    hooks = torch.nn.modules.module
    if hooks._global_forward_hooks or hooks._global_forward_pre_hooks:  # they run on every module of every model
        found.append("global forward hooks")
    for name, module in model.named_modules():
        if module._forward_hooks or module._forward_pre_hooks:
            found.append(f"{name or 'model'}: forward hooks")
        if "forward" in module.__dict__:
            found.append(f"{name or 'model'}: forward replaced on the instance")
        if ours := sorted(key for key in module.__dict__ if key.startswith("_guidecode")):
            found.append(f"{name or 'model'}: {', '.join(ours)}")
        if not type(module).__module__.startswith(("torch.", "transformers.")):
            found.append(f"{name or 'model'}: {type(module).__module__}.{type(module).__qualname__}")
    return found[:limit]


def pad_token_id(model, eos_ids: set[int]) -> int:
    # Batch of one never pads; transformers only wants a value so it does not warn and guess.
    pad = getattr(model.generation_config, "pad_token_id", None)
    if pad is None:
        pad = getattr(model.config, "pad_token_id", None)
    return pad if isinstance(pad, int) else min(eos_ids)


def _run(model, input_ids: list[int], config: GenerationConfig, eos_ids: set[int], **kwargs) -> tuple[list[int], float]:
    device = model.device
    ids = torch.tensor([input_ids], dtype=torch.long, device=device)
    mask = torch.ones_like(ids)
    _synchronize(device)
    start = time.perf_counter()
    output = model.generate(input_ids=ids, attention_mask=mask, generation_config=config, **kwargs)
    _synchronize(device)
    seconds = time.perf_counter() - start
    return cut_at_eos(output[0, len(input_ids) :].tolist(), eos_ids), seconds


def _synchronize(device: torch.device) -> None:
    # GPU kernels run asynchronously: without this the clock would stop before the work does.
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def cut_at_eos(tokens: list[int], eos_ids: set[int]) -> list[int]:
    """The tokens before the first EOS (all of them when there is none)."""
    for index, token in enumerate(tokens):
        if token in eos_ids:
            return tokens[:index]
    return tokens


def hf_greedy(model, input_ids: list[int], max_new_tokens: int, eos_ids: set[int]) -> tuple[list[int], float]:
    """Plain greedy decoding, one forward per token."""
    return _run(model, input_ids, greedy_config(model, max_new_tokens, eos_ids), eos_ids)


def hf_prompt_lookup(model, input_ids: list[int], max_new_tokens: int, eos_ids: set[int], num_tokens: int = 10) -> tuple[list[int], float]:
    """Prompt lookup decoding: drafts of up to `num_tokens` copied from where the last n-gram
    appeared earlier in the context, verified in one forward."""
    config = greedy_config(model, max_new_tokens, eos_ids, prompt_lookup_num_tokens=num_tokens)
    return _run(model, input_ids, config, eos_ids)


def hf_assisted(model, draft_model, input_ids: list[int], max_new_tokens: int, eos_ids: set[int]) -> tuple[list[int], float]:
    """Assisted generation: `draft_model` (same vocabulary) proposes, `model` verifies."""
    config = greedy_config(model, max_new_tokens, eos_ids)
    with _without_internal_deprecation():
        return _run(model, input_ids, config, eos_ids, assistant_model=draft_model)


def _drop_internal_deprecation(record: logging.LogRecord) -> bool:
    return not record.getMessage().startswith("Passing `generation_config` together with")


@contextmanager
def _without_internal_deprecation() -> Iterator[None]:
    # transformers' own draft step calls generate() with a config plus min/max_new_tokens
    # keywords and then warns about it (5.23); nothing a caller can change, so it is dropped,
    # during that call only: the logger is transformers' and process-wide.
    logger = logging.getLogger("transformers.generation.utils")
    logger.addFilter(_drop_internal_deprecation)
    try:
        yield
    finally:
        logger.removeFilter(_drop_internal_deprecation)
