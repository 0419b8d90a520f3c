"""Shared fixtures: a tiny random-weight Qwen2 with a byte-level tokenizer (seconds), and the real
embedded 0.5B model (loaded once per test session; needs the 'models' extra)."""

from __future__ import annotations

import copy
import os

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

EOS = "<eos>"


def make_byte_tokenizer() -> PreTrainedTokenizerFast:
    """256 byte tokens and one EOS: any text round-trips, and split characters show as U+FFFD."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {ch: i for i, ch in enumerate(sorted(alphabet))}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=EOS)
    return tokenizer


def make_tiny_model(vocab_size: int, seed: int = 0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(config).eval()
    # Random init gives near-uniform logits and endless argmax ties; sharper weights make
    # the greedy path unambiguous, so equality tests test the engine, not tie-breaking.
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
    return model


@pytest.fixture(scope="session")
def byte_tokenizer() -> PreTrainedTokenizerFast:
    return make_byte_tokenizer()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny random-weight model saved as a local model directory a server or worker can load."""
    path = tmp_path_factory.mktemp("tiny-model")
    tokenizer = make_byte_tokenizer()
    make_tiny_model(len(tokenizer)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model(byte_tokenizer) -> Qwen2ForCausalLM:
    # GUIDECODE_TEST_DEVICE=cuda runs the engine's mathematics on a GPU.
    return make_tiny_model(len(byte_tokenizer)).to(os.environ.get("GUIDECODE_TEST_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def real_model():
    """The embedded Qwen2.5-Coder-0.5B-Instruct in the default dtype; a missing install fails loudly."""
    from assistant.loading import load_model

    return load_model("0.5b")


@pytest.fixture(scope="session")
def dense_real_model():
    """The embedded 0.5B with dense (dequantized, bf16) weights, as `--weights dense` runs it."""
    from assistant.loading import load_model

    return load_model("0.5b", weights="dense")


@pytest.fixture(scope="session")
def exact_real_model(real_model):
    """The embedded model in a dtype where speculation is exact, for the tests of speculation: the
    default dtype where its engine verifies bit for bit, else bf16 (where a default other than
    bf16's is inexact, e.g. fp32 whose multi-row passes depend on the row count), so speculation is
    tested rather than its absence."""
    from assistant.loading import load_model
    from decoders import Engine

    return real_model if Engine(real_model.model).exact else load_model("0.5b", dtype="bfloat16")


@pytest.fixture(scope="module", params=["bf16", "fp32", "quantized"])
def tiny_cpu_model(tiny_model, request):
    """Speculation runs in bf16, in float32 and from quantized weights: each must be lossless."""
    if request.param == "quantized":
        from assistant.progress import Progress
        from assistant.quantize import quantize_model

        model = copy.deepcopy(tiny_model).to(torch.bfloat16)
        quantize_model(model, None, None, Progress.silent())
        return model
    return copy.deepcopy(tiny_model).to(torch.bfloat16 if request.param == "bf16" else torch.float32)


@pytest.fixture(scope="module")
def real_assistant(real_model):
    """An Assistant over the embedded 0.5B model with the default configuration, but without
    repository context (the monitors are tested alone; tests of the context give their own
    budget); its language servers are stopped after the module."""
    from assistant import Assistant, AssistantConfig

    assistant = Assistant(real_model, AssistantConfig(context_tokens=0))
    yield assistant
    assistant.close()


@pytest.fixture(scope="session")
def typescript_server():
    """typescript-language-server, installed into guidecode's folder as `guidecode servers install
    typescript` would when it is found nowhere; skipped only when npm cannot reach its registry."""
    from assistant.analysis.installation import RegistryUnreachable, find_server_binary, install_server

    if find_server_binary("typescript") is None:
        try:
            install_server("typescript")
        except RegistryUnreachable as error:
            pytest.skip(f"typescript-language-server is not installed and npm cannot reach its registry: {error}")
    assert find_server_binary("typescript") is not None
