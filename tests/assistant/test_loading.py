import pytest
import torch

from assistant import embedded
from assistant.loading import resolve_dtype
from assistant.errors import GuidecodeError


@pytest.mark.real_model
def test_ready_cache_holds_exactly_what_transformers_loads_from_the_gguf(real_model):
    """Our conversion (shared GGUF reader, ndarray dequantization, safetensors round trip) must
    give bit-identical weights to transformers' own GGUF loader."""
    from transformers import AutoModelForCausalLM

    gguf = embedded.gguf_path(embedded.EMBEDDED["0.5b"])
    reference = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=real_model.dtype)
    ours = real_model.model.state_dict()
    for name, tensor in reference.state_dict().items():
        assert torch.equal(tensor, ours[name]), name


def test_dtype_names_and_errors():
    cpu = torch.device("cpu")
    assert resolve_dtype("fp32", cpu) is torch.float32
    assert resolve_dtype("bf16", cpu) is torch.bfloat16
    assert resolve_dtype("auto", cpu) is torch.bfloat16  # everywhere: see decoders/emulated_bf16.py
    with pytest.raises(GuidecodeError, match="unknown dtype 'int3'"):
        resolve_dtype("int3", cpu)
