"""`python -m benchmarks.prefill_threads`: a prompt's prefill with one thread and with two, through
guidecode's column blocks (decoders/kernels/wide_linear.cpp) and through PyTorch's GEMM as it plans
itself, side by side in one process: the time of each, and on how many prompts the two thread counts
gave other bits.

Inputs: the first `--prompts` HumanEval prompts longer than 64 tokens (shorter ones are
decoding-size passes, which run guidecode's row kernel on both routes), each prefilled whole from
scratch by the engine, `--repeat` times per arm; an
arm's time is the median over repeats of the mean time per prompt. "Other bits": the logits after
the prompt or any layer's keys or values differ between the one-thread and the two-thread prefill.
The PyTorch arm swaps the engine's wide product for `torch.nn.functional.linear` in this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.nn.functional as F

ROUTES = ("guidecode column blocks", "PyTorch's GEMM")
THREADS = (1, 2)


@contextmanager
def route(name: str):
    """The engine's wide products through `name` while the block runs."""
    import decoders.linear_route as dense
    import decoders.quant.linear as quantized

    kept = dense.wide_linear, quantized.wide_product
    if name == "PyTorch's GEMM":
        dense.wide_linear = quantized.wide_product = F.linear
    try:
        yield
    finally:
        dense.wide_linear, quantized.wide_product = kept


def fingerprint(session) -> list[torch.Tensor]:
    """What a prefill computed: the next logits and every layer's keys and values."""
    layers = session.cache.layers
    return [session.next_logits, *(layer.keys for layer in layers), *(layer.values for layer in layers)]


def arm(engine, prompts: list[list[int]], threads: int, repeat: int) -> tuple[float, list[list[torch.Tensor]]]:
    """(median ms per prompt, each prompt's fingerprint) at `threads`."""
    torch.set_num_threads(threads)
    engine.prefill(prompts[0])  # the first pass's set-up stays out of the time
    means, prints = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        prints = [fingerprint(engine.prefill(p)) for p in prompts]
        means.append((time.perf_counter() - start) / len(prompts) * 1000)
    return statistics.median(means), prints


def differing(a: list[list[torch.Tensor]], b: list[list[torch.Tensor]]) -> int:
    return sum(not all(torch.equal(x, y) for x, y in zip(pa, pb)) for pa, pb in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.prefill_threads", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="0.5b")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--weights", default="auto")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, required=True, help="the result file (JSON)")
    args = parser.parse_args(argv)
    from assistant.evaluation.datasets import load_dataset
    from assistant.loading import dtype_name, load_model
    from decoders import Engine

    loaded = load_model(args.model, args.dtype, weights=args.weights)
    engine = Engine(loaded.model)
    from decoders.linear_route import MAX_ROWS

    every = (loaded.tokenizer(t.prompt)["input_ids"] for t in load_dataset("humaneval").tasks)
    prompts = [ids for ids in every if len(ids) > MAX_ROWS][: args.prompts]
    rows = []
    for name in ROUTES:
        with route(name):
            (one, at_one), (two, at_two) = (arm(engine, prompts, threads, args.repeat) for threads in THREADS)
        rows.append({"route": name, "ms_1_thread": round(one, 1), "ms_2_threads": round(two, 1), "prompts_differing": differing(at_one, at_two)})
        print(json.dumps(rows[-1]), flush=True)
    from .environment import describe, write_result
    from .scope_parse import machine_kind

    lengths = sorted(len(p) for p in prompts)
    weights = loaded.quantized.describe() if loaded.quantized else "dense"
    result = {
        "machine_kind": machine_kind(),
        **describe(),
        "how": f"python -m benchmarks.prefill_threads --model {args.model} --dtype {args.dtype} --weights {args.weights} --prompts {args.prompts} "
        f"--repeat {args.repeat}: {loaded.name}, {dtype_name(loaded.dtype)}, {weights}; the first {len(prompts)} HumanEval prompts longer than "
        f"{MAX_ROWS} tokens ({lengths[0]}-{lengths[-1]} tokens), each prefilled whole from scratch, at 1 and 2 threads, median of {args.repeat} passes of the mean "
        "time per prompt; both routes in one process, nothing else running",
        "prompts": len(prompts),
        "routes": rows,
    }
    write_result(args.out, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
