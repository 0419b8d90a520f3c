"""The assistant's beam search option, on the tiny random-weight model."""

import pytest
import torch

from assistant import Assistant, AssistantConfig
from assistant.errors import GuidecodeError
from assistant.loading import LoadedModel

TEXT = "def f(x):\n    return x\n\ny = f(\n"


def make_assistant(model, tokenizer, **config) -> Assistant:
    loaded = LoadedModel(model, tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    return Assistant(loaded, AssistantConfig(**config))


@pytest.mark.parametrize("width", [0, -1])
def test_a_bad_beam_width_is_rejected_with_a_message(width):
    with pytest.raises(GuidecodeError, match=f"beam_width must be an integer from 1 to .*, got {width}"):
        AssistantConfig(beam_width=width)


def test_beam_width_one_is_the_plain_loop(tiny_model, byte_tokenizer):
    plain = make_assistant(tiny_model, byte_tokenizer, max_new_tokens=12).complete(TEXT, len(TEXT) - 1)
    one = make_assistant(tiny_model, byte_tokenizer, max_new_tokens=12, beam_width=1).complete(TEXT, len(TEXT) - 1)
    assert (one.text, one.tokens, one.stop_reason) == (plain.text, plain.tokens, plain.stop_reason)


def test_beams_fill_the_completion_and_stream_once(tiny_model, byte_tokenizer):
    assistant = make_assistant(tiny_model, byte_tokenizer, max_new_tokens=12, beam_width=3)
    chunks = []
    completion = assistant.complete(TEXT, len(TEXT) - 1, on_text=chunks.append)
    assert completion.tokens > 0 and completion.forward_passes > 0 and completion.accepted_draft_tokens == 0
    assert completion.stop_reason in ("eos", "stop", "max_tokens")
    assert len(chunks) <= 1 and "".join(chunks).rstrip() == completion.text.rstrip()
    assert assistant._drafter is None  # no speculation with beams
