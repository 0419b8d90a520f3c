"""The decoding-size linear kernels (decoders/kernels/): built once, loaded, named.

The C++ sources are compiled on first use with PyTorch's extension builder (g++ and ninja; ~15 s,
once per source, PyTorch version and machine; later processes load the built library), then
registered as `torch.ops.guidecode.linear_rows` (and `quant_rows`, decoders/quant/linear.py;
`exact_attention`, decoders/invariant.py; `lean_qkv` and `lean_rest`, decoders/lean.py;
`wide_linear`, below). Each picks
its instruction set at run time, so a library built on one CPU runs on another. Where it cannot be built (no compiler), `load` returns
None and says why; decoders/linear_route.py then computes decoding-size passes one row at a time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch

from .quant.linear import wide_product

KERNELS = Path(__file__).parent / "kernels"
# One library: linear_rows.cpp (dense weights), quant_rows.cpp (quantized weights), attention.cpp
# (decoding-size attention, decoders/invariant.py), lean_layer.cpp (decoders/lean.py) and
# wide_linear.cpp (prompt-size passes whose bits do not follow the thread count).
SOURCES = tuple(KERNELS / name for name in ("linear_rows.cpp", "quant_rows.cpp", "attention.cpp", "lean_layer.cpp", "wide_linear.cpp"))
# The kernel's variants, by the number the C++ side uses (its header says what each one is).
VARIANTS = ("generic", "avx2", "avx512", "avx512bf16")
# -ffp-contract=off: the portable variant's multiply and add must stay two roundings, as written.
# -fopenmp: at::parallel_for is a header template; without it the kernel runs on one thread. The
# library then needs libgomp.so.1, which resolves to the one PyTorch has already loaded (one pool).
CFLAGS = ["-O3", "-ffp-contract=off", "-fopenmp"]
LDFLAGS = ["-fopenmp"]

log = logging.getLogger("guidecode")


@dataclass(frozen=True)
class RowKernel:
    """y = x @ weight.T + bias for bf16 or float32 CPU tensors, each row computed alone (the C++
    file's invariant): the result for a row never depends on the other rows of the call."""

    variant: int

    @property
    def name(self) -> str:
        return VARIANTS[self.variant]

    def __call__(self, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        return torch.ops.guidecode.linear_rows(x, weight, bias, self.variant)  # [..., out], x's dtype

    @staticmethod
    def runnable() -> list[RowKernel]:
        """Every variant this CPU runs (after `load()`), slowest first."""
        return [RowKernel(v) for v in torch.ops.guidecode.linear_rows_variants()]


def wide_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """y = x @ weight.T + bias for a prompt-size CPU pass, x [..., rows, in] -> [..., rows, out]:
    PyTorch's GEMM on column blocks of a width set by the layer's shape, each planned and run on
    one thread (decoders/kernels/wide_linear.cpp), so the bits do not depend on the thread count."""
    return wide_product(x, weight, bias)


@dataclass(frozen=True)
class KernelLoad:
    kernel: RowKernel | None  # the fastest variant this CPU runs; None when the build failed
    why_not: str = ""  # when kernel is None: what failed and what to do


@cache
def load() -> KernelLoad:
    """Build (the first time) and load the kernel; once per process."""
    try:
        _build()
    except Exception as error:  # a missing compiler, ninja or header: say which, and go on without
        lines = [line for line in str(error).splitlines() if line.strip()]
        compiler_error = next((line for line in lines if "error:" in line), None)
        if compiler_error is None and shutil.which("g++") is None and shutil.which("c++") is None:
            why = "the decoding kernel could not be built: no C++ compiler found; install g++ to build it"
        else:
            first = compiler_error or (lines[0] if lines else type(error).__name__)
            why = f"the decoding kernel could not be built ({first[:300]})"
        log.warning("%s; decoding-size passes run one row at a time instead", why)
        return KernelLoad(None, why)
    return KernelLoad(RowKernel.runnable()[-1])


def _library_name() -> str:
    source = b"".join(path.read_bytes() for path in SOURCES)
    digest = hashlib.sha256(source + torch.__version__.encode() + " ".join(CFLAGS + LDFLAGS).encode()).hexdigest()[:16]
    return f"guidecode_linear_rows_{digest}"


def build_directory() -> Path:
    """Where the library is built: under PyTorch's extension root (TORCH_EXTENSIONS_DIR where set),
    one folder per source, PyTorch version and flags."""
    from torch.utils import cpp_extension

    root = os.environ.get("TORCH_EXTENSIONS_DIR") or cpp_extension.get_default_build_root()
    return Path(root) / "guidecode" / _library_name()


def _build() -> None:
    from filelock import FileLock
    from torch.utils import cpp_extension

    folder = build_directory()
    folder.mkdir(parents=True, exist_ok=True)
    _put_ninja_on_path()
    log.info("loading the decoding kernel (the first time it is compiled: ~15 s)")
    # PyTorch's builder marks a build in progress with a plain `lock` file, taken on every load
    # (even when nothing is left to compile) and waited on forever by the next process when its
    # holder dies (an interrupted start, a killed server). Ours is an OS lock, released with its
    # process: whoever holds it is the only guidecode process loading this folder, so a `lock`
    # file found then was left by a dead one.
    with FileLock(folder / "guidecode.lock"):
        (folder / "lock").unlink(missing_ok=True)
        cpp_extension.load(
            name=folder.name,
            sources=[str(path) for path in SOURCES],
            extra_cflags=list(CFLAGS),  # copies: the builder appends to the lists it is given
            extra_ldflags=list(LDFLAGS),
            build_directory=str(folder),
            is_python_module=False,  # registers torch.ops.guidecode.*
            verbose=False,
        )


def _put_ninja_on_path() -> None:
    """PyTorch's builder runs `ninja` from PATH; the pip package's binary sits beside this
    interpreter, which is not on PATH when guidecode runs as .venv/bin/guidecode unactivated."""
    if shutil.which("ninja"):
        return
    candidates = [Path(sys.executable).parent]
    try:
        import ninja  # the PyPI package

        candidates.append(Path(ninja.BIN_DIR))
    except (ImportError, AttributeError):
        pass
    for folder in candidates:
        if (folder / "ninja").exists():
            os.environ["PATH"] = f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"
            return
