"""Bytes of weights per decoding step, measured read bandwidth, and what the speed summary makes of them."""

import json
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.speed_summary import BASELINE, OURS_PLAIN, PEER_BASELINE, Decoded, Run, markdown, report, summarize
from benchmarks.weight_bytes import gguf_streamed_bytes, read_bandwidth, streamed_bytes

from .test_speed import a_setup

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(12, 4)  # not read whole by a step: not counted
        self.up = torch.nn.Linear(4, 8)  # 32 weights + 8 biases
        self.down = torch.nn.Linear(8, 4, bias=False)  # 32 weights
        self.again = torch.nn.Linear(8, 4, bias=False)
        self.again.weight = self.down.weight  # tied: the same memory, read once
        self.head = torch.nn.Linear(4, 12, bias=False)
        self.head.weight = self.embed.weight  # tied to the embedding: the head reads it whole, once


def test_streamed_bytes_counts_linear_weights_and_biases_once_each():
    model = Tiny()
    assert streamed_bytes(model) == (32 + 8 + 32 + 48) * 4
    assert streamed_bytes(model.to(torch.bfloat16)) == (32 + 8 + 32 + 48) * 2


def test_streamed_bytes_of_a_quantized_layer_is_its_packed_bytes():
    from decoders.quant.blocks import from_dense
    from decoders.quant.linear import QuantKernel, QuantLinear, form, pack

    codes = from_dense(torch.randn(32, 64))
    layer = QuantLinear(pack(codes), form(codes), 32, None, QuantKernel(0), codes.exact)
    # 8-bit codes, one per weight, and one float16 scale per block of 32 weights
    assert layer.weight_bytes == 32 * 64 + 32 * (64 // 32) * 2
    model = torch.nn.Sequential(layer, torch.nn.Linear(32, 2, bias=False))
    assert streamed_bytes(model) == layer.weight_bytes + 32 * 2 * 4


def write_gguf(path: Path, output: bool) -> Path:
    import gguf

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tensor("token_embd.weight", np.ones((12, 4), np.float32))  # 192 bytes
    writer.add_tensor("blk.0.attn_q.weight", np.ones((4, 4), np.float32))  # 64
    writer.add_tensor("blk.0.ffn_up.weight", np.ones((8, 4), np.float16))  # 64
    if output:
        writer.add_tensor("output.weight", np.ones((12, 4), np.float16))  # 96
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_gguf_streamed_bytes_leave_out_the_embedding_unless_it_is_the_output_layer(tmp_path):
    assert gguf_streamed_bytes(write_gguf(tmp_path / "untied.gguf", output=True)) == 64 + 64 + 96
    assert gguf_streamed_bytes(write_gguf(tmp_path / "tied.gguf", output=False)) == 64 + 64 + 192


def test_read_bandwidth_is_a_positive_rate():
    rate = read_bandwidth(gib=0.01, repeat=2)
    assert math.isfinite(rate) and rate > 0


# --- the summary -------------------------------------------------------------------------------

FAMILIES = {BASELINE: "transformers", PEER_BASELINE: "llama.cpp", OURS_PLAIN: "ours", "ours + fast": "ours", "llama.cpp prompt lookup": "llama.cpp"}
PER_PASS = {BASELINE: 2_000_000_000, OURS_PLAIN: 500_000_000, PEER_BASELINE: 400_000_000, "ours + fast": 500_000_000}


def runs() -> list[Run]:
    # 11 tokens: 1 after the prompt phase, 10 in the decoding phase
    tokens = list(range(11))
    return [
        Run(BASELINE, "a", Decoded(tokens, 3.0)),  # transformers' prompt is not timed apart
        Run(OURS_PLAIN, "a", Decoded(tokens, 1.5, 11, 0, prompt_seconds=0.5), prompt_tokens=50),  # decoding 10 tok/s
        Run(PEER_BASELINE, "a", Decoded(tokens, 0.6, prompt_seconds=0.1), prompt_tokens=50),  # decoding 20 tok/s
        Run("ours + fast", "a", Decoded(tokens, 0.75, 4, 7, prompt_seconds=0.5), prompt_tokens=50),  # 40 tok/s, not 40 passes/s
        Run("llama.cpp prompt lookup", "a", Decoded(tokens, 0.35, prompt_seconds=0.1), prompt_tokens=50),
    ]


def test_bytes_per_second_and_bandwidth_share_for_the_plain_methods_only():
    s = {m.method: m for m in summarize(runs(), FAMILIES, PER_PASS, bandwidth=20.0)}
    assert s[OURS_PLAIN].decode_tokens_per_second == pytest.approx(10.0)
    assert s[OURS_PLAIN].weight_bytes_per_token == 500_000_000
    assert s[OURS_PLAIN].decode_gb_per_s == pytest.approx(5.0) and s[OURS_PLAIN].bandwidth_share == pytest.approx(0.25)
    assert s[PEER_BASELINE].decode_gb_per_s == pytest.approx(8.0) and s[PEER_BASELINE].bandwidth_share == pytest.approx(0.4)
    # transformers greedy: the bytes are known, its decoding speed alone is not
    assert s[BASELINE].weight_bytes_per_token == 2_000_000_000 and s[BASELINE].decode_gb_per_s is None and s[BASELINE].bandwidth_share is None
    for speculative in ("ours + fast", "llama.cpp prompt lookup"):
        assert s[speculative].decode_tokens_per_second is not None
        assert s[speculative].weight_bytes_per_token is None and s[speculative].decode_gb_per_s is None and s[speculative].bandwidth_share is None


def test_without_a_bandwidth_the_rate_stays_and_the_share_goes():
    s = {m.method: m for m in summarize(runs(), FAMILIES, PER_PASS)}
    assert s[OURS_PLAIN].decode_gb_per_s == pytest.approx(5.0) and s[OURS_PLAIN].bandwidth_share is None
    assert all(m.weight_bytes_per_token is None for m in summarize(runs(), FAMILIES))


def result_with_bytes() -> dict:
    setup = a_setup(
        peer="llama.cpp rows: test",
        weights="quantized weights (the GGUF file's values; 500 MB of linear layers)",
        read_bandwidth_gb_per_s=20.0,
    )
    methods = [asdict(m) for m in summarize(runs(), FAMILIES, PER_PASS, 20.0)]
    return {"setup": setup, "lossless": True, "workloads": [{"workload": "w", "methods": methods, "runs": []}]}


def test_the_caption_sets_decoding_against_the_read_bandwidth():
    text = markdown(result_with_bytes())
    assert "ours on quantized weights (the GGUF file's values" in text.splitlines()[0]
    assert f"{OURS_PLAIN}, w: 0.50 GB of weights per token, decoding 10.0 tok/s = 5.0 GB/s (25% of the 20.0 GB/s measured read bandwidth)" in text
    assert f"{PEER_BASELINE}, w: 0.40 GB of weights per token, decoding 20.0 tok/s = 8.0 GB/s (40% of the 20.0 GB/s" in text
    assert f"{BASELINE}, w: 2.00 GB of weights per token (decoding not timed apart from the prompt)" in text
    assert "ours + fast, w: 0.50 GB" not in text


@pytest.mark.parametrize("name", ["speed-amx-xeon-0.5b-dense.json", "speed-amx-xeon-1.5b-draft-0.5b-dense.json"])
def test_committed_results_without_the_new_fields_still_render(name):
    result = json.loads((RESULTS / name).read_text(encoding="utf-8"))
    assert "weight_bytes_per_token" not in result["workloads"][0]["methods"][0]  # written before the fields existed
    text = markdown(result)
    assert text.startswith(result["setup"]["model"]) and "ours on" not in text.splitlines()[0] and "GB of weights" not in text
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 1 + sum(len(w["methods"]) for w in result["workloads"])
    report(result)
