import pytest
import torch

from assistant import embedded
from assistant.errors import GuidecodeError
from assistant.loading import resolve_dtype
from assistant.quantize import resolve_weights


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
