"""The forward-pass benchmark on the tiny model: each route is what it says, and the report holds
every figure it measured."""

import copy

import torch

from benchmarks import passes

from ..conftest import make_tiny_model


def test_each_route_runs_as_named_and_the_report_shows_every_figure(byte_tokenizer):
    vocab = len(byte_tokenizer)
    float32 = make_tiny_model(vocab)
    bf16 = copy.deepcopy(float32).to(torch.bfloat16)
    models = passes.models_by_route(float32, bf16)
    assert list(models) == list(passes.ROUTES)
    routed = [m.__dict__.get("_guidecode_prompt_chunks", {}).get((torch.bfloat16, torch.device("cpu"))) for m in models.values()]
    assert routed[1] is None and routed[2] is not None  # bf16 as is, whatever this CPU; then routed
    prompt = [(7 * i + 1) % vocab for i in range(40)]
    results = [passes.time_route(name, model, prompt, repeat=2) for name, model in models.items()]
    assert all(r.prefill_ms > 0 and sorted(r.pass_ms) == list(passes.PASSES) for r in results)
    assert [r.exact for r in results[1:]] == [True, True]  # bf16 rows agree at every count; prompts aside
    how = {"model": "tiny", "context": 40, "repeat": 2, "threads": 1, "native_bf16": False, "cpu": "x", "cores": 2, "torch": "t", "transformers": "t"}
    text = passes.report(results, how)
    for r in results:
        assert f"| {r.route} | {r.prefill_ms:,.0f} ms" in text
    assert "(1.00)" in text and "native bf16: no" in text
    assert passes.to_json(results, how)["routes"][2]["pass_ms"][16] == results[2].pass_ms[16]
