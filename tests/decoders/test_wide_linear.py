"""Prompt-size passes (decoders/kernels/wide_linear.cpp): the same bits with any number of threads.

PyTorch's GEMM plans by its thread count; on the Intel Xeon with AMX a 4864-wide input was split
between two threads and their sums added, so a prompt prefilled with one thread and with two gave
different keys. The shapes below are the 0.5B and 1.5B models' own; a thread count above the
machine's cores only oversubscribes them, which changes the speed, not the plan.
"""

import warnings

import pytest
import torch
import torch.nn.functional as F

from decoders import row_kernel
from decoders.row_kernel import wide_linear

# (rows, in, out): the 0.5B's down projection, fused gate/up, q/o and k/v; the 1.5B's down
# projection; an output narrower than one block; a prompt chunk of 65 rows.
SHAPES = [(118, 4864, 896), (300, 896, 9728), (150, 896, 896), (150, 896, 128), (97, 8960, 1536), (200, 896, 100), (65, 896, 896)]


@pytest.fixture(scope="module", autouse=True)
def kernel():
    if row_kernel.load().kernel is None:
        pytest.skip("the kernels could not be built here (no C++ compiler)")


@pytest.fixture
def threads():
    """Sets torch's thread count for a test and gives the old one back."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _layer(rows: int, k: int, n: int, dtype: torch.dtype, bias: bool = True):
    g = torch.Generator().manual_seed(rows * 7 + n)
    x = torch.randn(1, rows, k, generator=g).to(dtype)  # [1, rows, in]
    w = (torch.randn(n, k, generator=g) / k**0.5).to(dtype)  # [out, in]
    b = torch.randn(n, generator=g).to(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", SHAPES)
def test_the_bits_do_not_depend_on_the_thread_count(shape, dtype, threads):
    x, w, b = _layer(*shape, dtype)
    # OpenMP's pool threads first run ATen code with two threads, as in a process that ran other
    # operations before its first prompt: they keep the MKL count they started with unless told.
    threads(2)
    torch.randn(1 << 22).exp_()
    results = []
    for count in (1, 2, 3):
        threads(count)
        with torch.inference_mode():  # as the engine calls it: the modes reach the pool's threads
            results.append(wide_linear(x, w, b))
    assert all(torch.equal(results[0], r) for r in results[1:])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_it_computes_the_layer(shape, dtype):
    x, w, b = _layer(*shape, dtype)
    y = wide_linear(x, w, b)  # [1, rows, out]
    expected = F.linear(x.double(), w.double(), b.double())
    assert y.shape == (1, shape[0], shape[2]) and y.dtype == dtype
    tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-4
    assert torch.allclose(y.double(), expected, rtol=tolerance, atol=tolerance)
    assert torch.equal(wide_linear(x, w, None), wide_linear(x, w, torch.zeros_like(b)))


def test_the_callers_thread_count_is_given_back(threads):
    # One block runs on the caller itself, whose OpenMP count the kernel sets to one meanwhile.
    threads(2)
    x, w, b = _layer(100, 896, 100, torch.bfloat16)
    wide_linear(x, w, b)
    assert torch.get_num_threads() == 2


def test_a_wrong_input_size_is_refused():
    x, w, b = _layer(100, 896, 896, torch.bfloat16)
    with pytest.raises(RuntimeError, match="input size 896 against weights of 800"):
        wide_linear(x, w[:, :800], b)


def test_a_caller_recording_gradients_gets_pytorchs_product():
    x, w, b = _layer(100, 896, 300, torch.float32)
    w.requires_grad_()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # PyTorch warns when a backward runs through an op without one
        y = wide_linear(x, w, b)
        y.sum().backward()
    assert torch.equal(y.detach(), F.linear(x, w, b).detach())
    assert w.grad is not None and torch.allclose(w.grad, torch.ones(100, 300).T @ x)
