"""The forward-pass benchmark on the tiny model: each route is what it says, and the report holds
every figure it measured."""

import copy

import torch

from assistant.progress import Progress
from assistant.quantize import quantize_model
from benchmarks import passes

from ..conftest import make_tiny_model


def test_each_route_runs_as_named_and_the_report_shows_every_figure(byte_tokenizer):
    vocab = len(byte_tokenizer)
    float32 = make_tiny_model(vocab)
    bf16 = copy.deepcopy(float32).to(torch.bfloat16)
    quantized = copy.deepcopy(bf16)
    quantize_model(quantized, None, None, Progress.silent())
    models = passes.models_by_route(float32, bf16, quantized)
    assert list(models) == [*passes.ROUTES, passes.QUANTIZED]
    routes = [m.lm_head.__dict__.get("_guidecode_route") for m in models.values()]
    assert not routes[1].upcast_wide and routes[2].upcast_wide  # bf16 as is, whatever this CPU; then routed
    prompt = [(7 * i + 1) % vocab for i in range(100)]  # wider than a decoding-size pass: the routes differ
    results = [passes.time_route(name, model, prompt, repeat=2) for name, model in models.items()]
    assert all(r.prefill_ms > 0 and sorted(r.pass_ms) == list(passes.PASSES) for r in results)
    assert [r.exact for r in results] == [True, True, True, True]  # decoding-size passes run an exact kernel in each
    how = {"model": "tiny", "context": 100, "repeat": 2, "threads": 1, "native_bf16": False, "cpu": "x", "cores": 2, "torch": "t", "transformers": "t"}
    text = passes.report(results, how)
    for r in results:
        assert f"| {r.route} | {r.prefill_ms:,.0f} ms" in text
        # The linear layers alone: every weight byte once, in less time than the whole step.
        assert r.weight_bytes > 0 and 0 < r.linear_ms and f"| {r.route} | {r.weight_bytes / 1e6:,.0f} MB | {r.linear_ms:,.1f} ms" in text
    assert results[3].weight_bytes < results[1].weight_bytes  # quantized weights read fewer bytes than bf16
    assert "(1.00)" in text and "native bf16: no" in text
    assert passes.to_json(results, how)["routes"][2]["pass_ms"][16] == results[2].pass_ms[16]
