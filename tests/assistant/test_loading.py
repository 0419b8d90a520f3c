import logging

import pytest
import torch

from assistant import embedded
from assistant.errors import GuidecodeError
from assistant.loading import ModelUnavailable, load_model, resolve_dtype
from assistant.quantize import resolve_weights

from ..conftest import make_tiny_model


@pytest.mark.real_model
def test_ready_cache_holds_exactly_what_transformers_loads_from_the_gguf(dense_real_model):
    """Our conversion (shared GGUF reader, ndarray dequantization, safetensors round trip) must
    give bit-identical weights to transformers' own GGUF loader."""
    from transformers import AutoModelForCausalLM

    gguf = embedded.gguf_path(embedded.EMBEDDED["0.5b"])
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dense_real_model.dtype)
    ours = dense_real_model.model.state_dict()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, ours[name]), name


def test_dtype_names_and_errors():
    cpu = torch.device("cpu")
    assert resolve_dtype("fp32", cpu) is torch.float32
    assert resolve_dtype("bf16", cpu) is torch.bfloat16
    assert resolve_dtype("auto", cpu) is torch.bfloat16  # everywhere: see decoders/emulated_bf16.py
    with pytest.raises(GuidecodeError, match="unknown dtype 'int3'"):
        resolve_dtype("int3", cpu)


def test_weights_names_and_errors():
    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_weights("auto", True, cpu)  # a GGUF model on a CPU: its own quantized values
    assert not resolve_weights("auto", False, cpu)  # a dense model stays as it is unless asked
    assert not resolve_weights("auto", True, gpu)
    assert resolve_weights("quantized", False, cpu) and not resolve_weights("dense", True, cpu)
    with pytest.raises(GuidecodeError, match="unknown weights 'int3'"):
        resolve_weights("int3", True, cpu)
    with pytest.raises(GuidecodeError, match="CPUs only.*--weights dense"):
        resolve_weights("quantized", True, gpu)


@pytest.mark.real_model
def test_the_embedded_model_runs_the_gguf_files_own_quantized_values(real_model, dense_real_model):

    summary = real_model.quantized
    assert summary is not None and summary.layers == summary.exact_layers == 24 * 7 + 1
    assert not any(isinstance(m, torch.nn.Linear) for m in real_model.model.modules())
    # Each layer's values are what the dense path dequantized (rounded to bf16 there).
    dense = dict(dense_real_model.model.named_modules())
    for name, module in real_model.model.named_modules():
        if name.endswith(("down_proj", "lm_head")):
            assert torch.equal(module.dense(torch.bfloat16), dense[name].weight), name
        if name.endswith("qkv_fused"):  # q, k and v side by side, in one layer
            parts = [dense[name.replace("qkv_fused", p)].weight for p in ("q_proj", "k_proj", "v_proj")]
            assert torch.equal(module.dense(torch.bfloat16), torch.cat(parts)), name
    # Fewer bytes per token than half of bf16's.
    dense_bytes = sum(m.weight.numel() * 2 for m in dense_real_model.model.modules() if isinstance(m, torch.nn.Linear))
    assert summary.weight_bytes < 0.5 * dense_bytes


# --- loading puts back what it replaced in transformers and gguf --------------------------------


def write_tiny_gguf(path, tokenizer) -> torch.nn.Module:
    """The tiny random-weight Qwen2 (tests/conftest.py) as a float32 GGUF file with `tokenizer`'s
    byte tokens; returns the model."""
    import gguf

    model = make_tiny_model(len(tokenizer))
    config = model.config
    writer = gguf.GGUFWriter(str(path), "qwen2")
    writer.add_name("tiny")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_freq_base(config.rope_parameters["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types([gguf.TokenType.NORMAL] * (len(tokens) - 1) + [gguf.TokenType.CONTROL])
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_merges([])
    writer.add_eos_token_id(vocab[tokenizer.eos_token])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, config.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        writer.add_tensor(names.get_name(name, try_suffixes=(".weight", ".bias")), tensor.float().numpy())
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


def _library_state() -> tuple:
    """What loading replaces or switches for its duration, by identity and value."""
    import gguf
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers.utils import logging as hf_logging

    return gguf.dequantize, gguf.GGUFReader, gguf_utils.tqdm, hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()


@pytest.fixture
def library_state(monkeypatch, tmp_path):
    """A private model cache, and transformers' logging set apart from its defaults (warnings only,
    progress bars off) so that a load that switched them back to defaults shows; reset afterwards."""
    from transformers.utils import logging as hf_logging

    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path / "cache"))
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_warning()
    hf_logging.disable_progress_bar()
    try:
        yield _library_state()
    finally:
        hf_logging.set_verbosity(verbosity)
        (hf_logging.enable_progress_bar if bars else hf_logging.disable_progress_bar)()


def test_a_gguf_load_replaces_gguf_functions_only_while_it_reads_the_file(library_state, byte_tokenizer, tmp_path, monkeypatch):
    from transformers import AutoConfig

    written = write_tiny_gguf(tmp_path / "tiny.gguf", byte_tokenizer)
    during = []
    read_config = AutoConfig.from_pretrained.__func__

    def watched(cls, *args, **kwargs):
        during.append(_library_state())
        return read_config(cls, *args, **kwargs)

    monkeypatch.setattr(AutoConfig, "from_pretrained", classmethod(watched))
    loaded = load_model(str(tmp_path / "tiny.gguf"), dtype="float32", device="cpu", weights="dense")
    assert not loaded.from_cache and _library_state() == library_state
    # The GGUF file's config, then the ready-to-load cache's (safetensors: gguf's functions as they are).
    converting, *reading_back = during
    assert all(converting[i] is not library_state[i] for i in range(3))  # ndarray dequantization, the shared reader, the silent bar
    assert reading_back and all(state[:3] == library_state[:3] for state in reading_back)
    assert all(state[3:] == (logging.ERROR, False) for state in during)
    # The values are the file's: the replacements change how they are read, not what.
    ours = loaded.model.state_dict()
    assert all(torch.equal(tensor, ours[name]) for name, tensor in written.state_dict().items())
    again = load_model(str(tmp_path / "tiny.gguf"), dtype="float32", device="cpu", weights="dense")
    assert again.from_cache and _library_state() == library_state


def test_a_load_that_fails_puts_back_what_it_replaced(library_state, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a GGUF file\n")
    with pytest.raises(ModelUnavailable, match="cannot read .*broken.gguf as a GGUF model: .*not a GGUF file"):
        load_model(str(broken), dtype="float32", device="cpu", weights="dense")
    assert _library_state() == library_state


def test_a_process_arriving_while_another_packs_the_quantized_layers_waits_and_reads_its_cache(tiny_model, tmp_path):
    """Two processes quantizing one model for the first time (the two workers of an eval on Ray)
    once wrote the same temporary folder, and one failed on the other's half-written cache."""
    import concurrent.futures
    import copy

    from filelock import FileLock

    from assistant.progress import Progress
    from assistant.quantize import _write_cache, quantize_model

    from .waiting import Told

    cache = tmp_path / "quantized"
    other = FileLock(str(tmp_path / "quantized.lock"))  # the other process, mid-packing
    other.acquire()
    progress = Told()
    arriving_model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        arriving = pool.submit(quantize_model, arriving_model, None, cache, progress)
        assert progress.waiting.wait(timeout=30)  # it waits for the lock rather than packing the same layers
        packed = copy.deepcopy(tiny_model).to(torch.bfloat16)
        _write_cache(cache, packed, quantize_model(packed, None, None, Progress.silent()))  # what the other writes meanwhile
        other.release()
        assert arriving.result(timeout=60) is not None
    assert not any(p.startswith("packing") for p in progress.phases)  # it read the other's cache
    ids = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6]])
    assert torch.equal(arriving_model(ids).logits, packed(ids).logits)
