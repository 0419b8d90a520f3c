"""The prompt window around the cursor: within budget, and stable while the user types."""

import torch

from assistant import Assistant, AssistantConfig
from assistant.loading import LoadedModel


def make_assistant(model, tokenizer, **config) -> Assistant:
    loaded = LoadedModel(model, tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    return Assistant(loaded, AssistantConfig(**config))


def common_prefix(a, b):
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def test_prompt_fits_the_budget_and_keeps_its_start_while_typing(tiny_model, byte_tokenizer):
    assistant = make_assistant(tiny_model, byte_tokenizer, max_prompt_tokens=256)
    text = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    cursor = len(text) // 2
    prompts = [assistant.window.build(text[: cursor + k], text[cursor + k :])[0] for k in range(0, 40)]
    assert all(len(p) <= 256 for p in prompts)
    shared = [common_prefix(a, b) for a, b in zip(prompts, prompts[1:])]
    # a keystroke changes only the end of the prompt, except when the window steps (rarely)
    assert sum(s >= len(a) - 4 for s, a in zip(shared, prompts)) >= len(shared) - 2


def test_consecutive_completions_reuse_the_kv_cache(tiny_model, byte_tokenizer):
    assistant = make_assistant(tiny_model, byte_tokenizer, max_prompt_tokens=256, max_new_tokens=4)
    text = "".join(f"value_{i} = compute({i})\n" for i in range(400))
    cursor = len(text) // 2
    first = assistant.complete(text[:cursor] + text[cursor:], cursor)
    second = assistant.complete(text[:cursor] + "v" + text[cursor:], cursor + 1)
    assert first.reused_prompt_tokens == 0
    assert second.reused_prompt_tokens >= second.prompt_tokens - 8


def test_healing_takes_back_a_word_or_indentation_but_not_punctuation(tiny_model, byte_tokenizer):
    assistant = make_assistant(tiny_model, byte_tokenizer, max_prompt_tokens=256)
    for prefix, healed in (("x = obj.", ""), ("f(", ""), ("    ret", "t"), ("if x:\n    ", " "), ("a = 1\n", "")):
        prompt, got = assistant.window.build(prefix, "")
        assert got == healed, prefix
        unhealed, _ = assistant.window.build(prefix, "", heal=False)
        assert len(prompt) == len(unhealed) - (1 if healed else 0), prefix
