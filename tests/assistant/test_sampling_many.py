"""Assistant.sample: several seeded completions decoded side by side, each what `complete` draws."""

import dataclasses

import pytest
import torch

from assistant import Assistant, AssistantConfig
from assistant.errors import GuidecodeError
from assistant.loading import LoadedModel

TEXT = 'def f(x):\n    """Twice x."""\n    \n\ny = f(2)\n'
CURSOR = TEXT.index("    \n") + 4


def make_assistant(model, tokenizer, **config) -> Assistant:
    loaded = LoadedModel(model, tokenizer, "tiny", torch.bfloat16, torch.device("cpu"), 0.0, False)
    return Assistant(loaded, AssistantConfig(**config))


def test_each_sample_is_what_complete_draws_with_its_seed(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    assistant = make_assistant(tiny_cpu_model, byte_tokenizer, max_new_tokens=16, temperature=1.0, top_p=0.95, speculation=False)
    seeds = [3, 1, 4, 1_000_000_007]
    together = assistant.sample(TEXT, CURSOR, seeds)
    alone = []
    for seed in seeds:
        assistant.config = dataclasses.replace(assistant.config, seed=seed)
        alone.append(assistant.complete(TEXT, CURSOR))
    assert [(c.text, c.tokens, c.stop_reason) for c in together] == [(c.text, c.tokens, c.stop_reason) for c in alone]
    assert len({c.text for c in together}) > 1


def test_function_bodies_are_spliced_like_generate_function(tiny_cpu_model, byte_tokenizer):  # noqa: F811
    assistant = make_assistant(tiny_cpu_model, byte_tokenizer, max_new_tokens=8, temperature=0.8)
    text = 'def g(a):\n    """Return a."""\n'
    for generated in assistant.sample_function(text, [1, 2], name="g"):
        assert generated.name == "g" and generated.function.startswith(text.rstrip("\n"))
        assert generated.body == "" or generated.body.startswith("    ")


@pytest.mark.parametrize(
    "config, message",
    [({}, "needs a temperature above 0"), ({"temperature": 0.8, "beam_width": 2}, "cannot be combined with beam search")],
)
def test_what_cannot_be_sampled_says_why(tiny_model, byte_tokenizer, config, message):
    with pytest.raises(GuidecodeError, match=message):
        make_assistant(tiny_model, byte_tokenizer, **config).sample(TEXT, CURSOR, [1, 2])
