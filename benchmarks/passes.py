"""What a forward pass costs on this machine, by its number of tokens, for each way to run the model.

`guidecode bench passes`: for one model and its routes, side by side in one run, on the same
tokens through the engine:

- float32;
- bf16 as PyTorch computes it (emulated on a CPU without avx512_bf16 or AMX);
- bf16 with prompt chunks in float32 (decoders/emulated_bf16.py; what the engine does by itself
  where bf16 is emulated);
- quantized weights (`--weights quantized`, the default for GGUF models; docs/quantization.md),
  where that model is given.

Passes of decoding size (decoders/linear_route.py: up to 64 tokens) run the engine's row kernel
in every route; the routes differ in how prompt chunks are computed and in the weights' dtype.

For each: a prompt of `context` tokens (the prefill), then at that context one decoding step and
passes over 4 and 16 tokens (what verifying a drafted chain or tree costs). Each figure is the
median of `repeat` timings after one untimed warm-up; ratios are to float32.
"""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from decoders import Engine
from decoders.emulated_bf16 import native_bf16
from decoders.preparation import prepare

from .weight_bytes import streamed_bytes

ROUTES = ("float32", "bf16 as is", "bf16, prompts in float32")
QUANTIZED = "quantized weights"
PASSES = (1, 4, 16)  # tokens in a pass after the prompt


@dataclass
class RouteTimes:
    route: str
    prefill_ms: float
    pass_ms: dict[int, float]  # tokens in the pass -> ms
    exact: bool  # Engine.exact: a speculative pass gives single steps' logits
    linear_ms: float = 0.0  # the linear layers alone, each called once on one token's row: weight streaming
    weight_bytes: int = 0  # what those calls read (benchmarks/weight_bytes.py)

    @property
    def rest_ms(self) -> float:
        """A step's time outside its linear layers: attention, norms, the cache, Python."""
        return self.pass_ms[1] - self.linear_ms

    @property
    def linear_gb_per_s(self) -> float:
        return self.weight_bytes / self.linear_ms / 1e6 if self.linear_ms else 0.0


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm-up: first-call allocations and kernel choices
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def time_route(route: str, model: torch.nn.Module, prompt: list[int], repeat: int) -> RouteTimes:
    engine = Engine(model)
    prefill_ms = _median_ms(lambda: engine.prefill(prompt), repeat)
    session = engine.prefill(prompt)
    after = [(7 * i + 3) % model.config.vocab_size for i in range(max(PASSES))]  # as many as the widest pass, whatever the prompt
    pass_ms = {n: _median_ms(lambda n=n: engine.extend(engine.fork(session), after[:n]), repeat) for n in PASSES}
    linear_ms = _median_ms(_linear_layers_once(model), repeat)
    return RouteTimes(route, prefill_ms, pass_ms, engine.exact, linear_ms, streamed_bytes(model))


def _linear_layers_once(model: torch.nn.Module) -> Callable[[], None]:
    """Calls each linear layer a step runs once, on a one-token row of its input width: the step's
    weight streaming without the rest. Fused projections (decoders/quant/fused.py) count once, as
    the fused layer; their members' shares are skipped."""
    from decoders.quant.fused import SharedProjection
    from decoders.quant.linear import QuantLinear

    dtype = next(model.parameters()).dtype
    layers = [
        (m, torch.randn(1, 1, m.in_features, dtype=dtype))
        for m in model.modules()
        if isinstance(m, (QuantLinear, torch.nn.Linear)) and not isinstance(m, SharedProjection)
    ]

    @torch.inference_mode()
    def run() -> None:
        for layer, x in layers:
            layer(x)

    return run


def models_by_route(float32: torch.nn.Module, bf16: torch.nn.Module, quantized: torch.nn.Module | None = None) -> dict[str, torch.nn.Module]:
    as_is, routed = bf16, copy.deepcopy(bf16)
    prepare(as_is, emulated=False)
    prepare(routed, emulated=True)
    models = dict(zip(ROUTES, (float32, as_is, routed)))
    if quantized is not None:
        models[QUANTIZED] = quantized
    return models


def run(
    float32: torch.nn.Module, bf16: torch.nn.Module, prompt: list[int], repeat: int, progress: Callable[[str], None], quantized: torch.nn.Module | None = None
) -> list[RouteTimes]:
    results = []
    for route, model in models_by_route(float32, bf16, quantized).items():
        progress(f"timing {route}")
        results.append(time_route(route, model, prompt, repeat))
    return results


def setup(model_name: str, context: int, repeat: int) -> dict:
    from .environment import describe

    return {
        "model": model_name,
        "context": context,
        "repeat": repeat,
        "threads": torch.get_num_threads(),
        "native_bf16": native_bf16(torch.device("cpu")),
        **describe(),
    }


def to_json(results: list[RouteTimes], how: dict) -> dict:
    return {"setup": how, "routes": [asdict(r) for r in results]}


def report(results: list[RouteTimes], how: dict) -> str:
    base = results[0]
    lines = [
        f"{how['model']}, {how['context']} tokens of prompt, median of {how['repeat']}; {how['cpu']}, "
        f"{how['cores']} cores, {how['threads']} torch threads, native bf16: {'yes' if how['native_bf16'] else 'no'}; "
        f"torch {how['torch']}, transformers {how['transformers']}",
        "",
        "| route | prompt | 1 token (a step) | 4 tokens | 16 tokens | 16 tokens / step | speculation exact |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        cells = [_cell(r.prefill_ms, base.prefill_ms)] + [_cell(r.pass_ms[n], base.pass_ms[n]) for n in PASSES]
        lines.append(f"| {r.route} | {' | '.join(cells)} | {r.pass_ms[16] / r.pass_ms[1]:.1f}x | {'yes' if r.exact else 'no'} |")
    lines.append("")
    lines.append("Each cell: ms (the ratio to float32's; below 1 is faster).")
    lines += [
        "",
        "Where a step's time goes: its linear layers alone (each called once on one row: the weights streamed) and the rest.",
        "",
        "| route | weights read | linear layers alone | their GB/s | rest of the step | rest / step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.route} | {r.weight_bytes / 1e6:,.0f} MB | {r.linear_ms:,.1f} ms | {r.linear_gb_per_s:.1f} | "
            f"{r.rest_ms:,.1f} ms | {r.rest_ms / r.pass_ms[1]:.0%} |"
        )
    return "\n".join(lines)


def _cell(ms: float, base_ms: float) -> str:
    return f"{ms:,.0f} ms ({ms / base_ms:.2f})"
