"""Decoding-size linear passes give each row the bits it gets alone, for every row count, on the
real model's layer shapes, in every kernel variant this CPU runs (so a machine with AVX-512 also
tests the AVX2 and portable code that other machines run), in bf16 and float32; and the engine's
check says no when rows do not agree."""

import copy

import pytest
import torch
import torch.nn.functional as F

from decoders import Engine
from decoders.linear_route import CHECKED_OUTPUTS, MAX_ROWS, LinearRoute, decoding_rows_agree
from decoders.preparation import prepare
from decoders.row_kernel import RowKernel, load

from ..conftest import make_tiny_model

# The embedded 0.5B model's layers (q, k/v with bias; o; MLP up and down; the output layer), and
# odd sizes that leave a tail in every loop of the kernel.
REAL_SHAPES = [(896, 896, True), (896, 128, True), (896, 896, False), (896, 4864, False), (4864, 896, False)]
OUTPUT_LAYER = (896, 151936, False)
ODD_SHAPES = [(37, 13, True), (67, 5, False), (1, 3, True)]
DTYPES = [torch.bfloat16, torch.float32]


@pytest.fixture(scope="module")
def variants() -> list[RowKernel]:
    built = load()
    assert built.kernel is not None, built.why_not  # this project's machines have g++: the kernel must build
    return RowKernel.runnable()


def _layer(shape: tuple[int, int, bool], dtype: torch.dtype, seed: int = 0) -> torch.nn.Linear:
    torch.manual_seed(seed)
    fan_in, fan_out, bias = shape
    layer = torch.nn.Linear(fan_in, fan_out, bias=bias)
    with torch.no_grad():
        if bias:
            layer.bias.normal_()
    return layer.to(dtype)


def _rows_alone(kernel: RowKernel, layer: torch.nn.Linear, x: torch.Tensor) -> list[int]:
    """Row counts m in 1..len(x) at which x[:m]'s rows differ from those of the len(x)-row call."""
    full = kernel(x[None], layer.weight, layer.bias)[0]  # [rows, out], called as a model calls it: [1, rows, in]
    return [m for m in range(1, len(x)) if not torch.equal(kernel(x[None, :m], layer.weight, layer.bias)[0], full[:m])]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", REAL_SHAPES + ODD_SHAPES)
@torch.inference_mode()
def test_every_variant_gives_each_row_its_own_result_at_every_row_count(variants, shape, dtype):
    layer = _layer(shape, dtype)
    x = torch.randn(MAX_ROWS, shape[0], generator=torch.Generator().manual_seed(1)).to(dtype)  # [rows, in]
    for kernel in variants:
        assert _rows_alone(kernel, layer, x) == [], kernel.name


@pytest.mark.parametrize("dtype", DTYPES)
@torch.inference_mode()
def test_the_whole_output_layer_too_in_the_variant_that_runs(variants, dtype):
    layer = _layer(OUTPUT_LAYER, dtype)
    x = torch.randn(MAX_ROWS, OUTPUT_LAYER[0], generator=torch.Generator().manual_seed(2)).to(dtype)
    assert _rows_alone(variants[-1], layer, x) == []


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", REAL_SHAPES[:2] + ODD_SHAPES)
@torch.inference_mode()
def test_every_variant_computes_the_layer(variants, shape, dtype):
    """Against float64: within the rounding of the output plus float32 sums of bf16/fp32 products."""
    layer = _layer(shape, dtype)
    x = torch.randn(1, 5, shape[0], generator=torch.Generator().manual_seed(3)).to(dtype)
    exact = F.linear(x.double(), layer.weight.double(), None if layer.bias is None else layer.bias.double())
    scale = (x.double().abs() @ layer.weight.double().abs().T) + (0 if layer.bias is None else layer.bias.double().abs())
    ulp = 2.0**-8 if dtype == torch.bfloat16 else 2.0**-23
    for kernel in variants:
        y = kernel(x, layer.weight, layer.bias)
        assert y.dtype == dtype and y.shape == (1, 5, shape[1])
        assert ((y.double() - exact).abs() <= ulp * exact.abs() + 1e-5 * scale + 1e-30).all(), kernel.name


@torch.inference_mode()
def test_variants_this_cpu_cannot_run_are_refused(variants):
    x, w = torch.randn(2, 8), torch.randn(3, 8)
    for number in range(4):
        if number not in [k.variant for k in variants]:
            with pytest.raises(RuntimeError, match="does not run on this CPU"):
                RowKernel(number)(x, w, None)
    with pytest.raises(RuntimeError, match="dtypes differ"):
        variants[-1](x.bfloat16(), w, None)


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_routed_model_passes_the_check_and_the_engine_is_exact(tiny_model, dtype):
    model = copy.deepcopy(tiny_model).to(dtype)
    engine = Engine(model)
    assert engine.route.kernel is not None and decoding_rows_agree(model)
    assert engine.exact and engine.why_inexact is None


def test_the_check_catches_rows_that_depend_on_the_row_count(tiny_model, monkeypatch):
    """What a library GEMM that picks its kernel by row count does: the check must say no, and the
    engine must not speculate, saying why."""
    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    route = prepare(model).route

    def by_count(self, x, weight, bias):
        out = F.linear(x, weight, bias)
        return out + 2.0**-6 * out.abs() if x.shape[:-1].numel() in (3, 41) else out  # 3 and 41 rows differ

    monkeypatch.setattr(LinearRoute, "linear", by_count)
    engine = Engine(model)
    assert engine.route is route and not engine.exact
    assert "rows depend on how many rows run together" in engine.why_inexact


def test_one_row_at_a_time_where_the_kernel_is_missing(tiny_model, byte_tokenizer):
    """Without a compiler the route computes decoding-size passes row by row through PyTorch: each
    row takes the call a single step takes, and the check and speculation hold."""
    from .test_speculative import PROMPTS, drafters, plain_and_speculative

    model = copy.deepcopy(tiny_model).to(torch.bfloat16)
    route = prepare(model).route
    missing = LinearRoute(None, "no compiler here", upcast_wide=route.upcast_wide)
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            module._guidecode_route = missing
    assert "one row at a time (no compiler here)" in missing.describe()
    assert Engine(model).exact
    plain, fast = plain_and_speculative(model, byte_tokenizer, PROMPTS[0], drafters(model, len(byte_tokenizer))["always wrong"])
    assert fast.tokens == plain.tokens


def test_the_check_covers_every_row_count_and_the_output_layer_slice():
    assert MAX_ROWS >= 18  # a drafted tree of 17 nodes and its root, beams, the name monitor's trees
    assert CHECKED_OUTPUTS % 4 == 0


def test_a_copy_in_another_dtype_decides_anew(tiny_model):
    """Tests and users copy a model an engine has prepared and cast it: the copy keeps its route
    and gets the check for its own dtype."""
    fp32 = copy.deepcopy(tiny_model).float()
    assert Engine(fp32).exact
    bf16 = copy.deepcopy(fp32).to(torch.bfloat16)
    assert Engine(bf16).exact and bf16.lm_head._guidecode_route is not fp32.lm_head._guidecode_route
    decided = {(dtype, device) for _, dtype, device in prepare(bf16).answers}
    assert decided == {(torch.float32, torch.device("cpu")), (torch.bfloat16, torch.device("cpu"))}


def test_a_model_never_prepared_gets_the_same_answer(byte_tokenizer):
    never = make_tiny_model(len(byte_tokenizer), seed=5).to(torch.bfloat16)
    assert Engine(never).exact


def test_a_load_that_died_half_way_does_not_block_the_next(tmp_path):
    """PyTorch's builder leaves its `lock` file behind when its process dies mid-load; the next
    process must load the library all the same instead of waiting for it forever."""
    import os
    import shutil
    import subprocess
    import sys

    from decoders.row_kernel import build_directory

    assert load().kernel is not None  # built here: its folder can be copied
    built = build_directory()
    root = tmp_path / "extensions"
    copied = root / built.relative_to(built.parent.parent)
    shutil.copytree(built, copied, ignore=shutil.ignore_patterns("*.lock", "lock"))
    (copied / "lock").write_text("")  # as a process killed while loading leaves it
    script = "from decoders.row_kernel import load, build_directory; k = load(); print(k.kernel is not None, build_directory())"
    env = {**os.environ, "TORCH_EXTENSIONS_DIR": str(root)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", str(copied)]
    assert not (copied / "lock").exists()
