"""Loading a causal code model and its tokenizer: embedded name, local directory, GGUF file or hub id.

GGUF files are dequantized by transformers, which is slow (tens of seconds, mostly unpacking
blocks and converting the tokenizer), so the dense result is cached once per file and dtype as a
plain safetensors checkpoint that later loads read back in seconds.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import embedded
from .cache_lock import alone
from .errors import GuidecodeError
from .options import DTYPE_ALIASES
from .progress import Progress
from .quantize import QuantSummary, quantize_model, resolve_weights

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


class ModelUnavailable(GuidecodeError):
    pass


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object  # a transformers PreTrainedTokenizerBase
    name: str  # what the user asked for, resolved (e.g. "Qwen2.5-Coder-0.5B-Instruct")
    dtype: torch.dtype
    device: torch.device
    load_seconds: float
    from_cache: bool  # True when a ready-to-load form was read instead of converting
    quantized: QuantSummary | None = None  # None: dense weights (assistant/quantize.py)


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError as error:
        raise GuidecodeError(f"unknown device {device!r} ({error}); use auto, cpu or cuda") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise GuidecodeError(f"device {device!r} was asked for but no CUDA GPU is available; use --device cpu")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    name = DTYPE_ALIASES.get(dtype.lower(), dtype.lower())
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        # bf16 on every CPU: where it is emulated, decoding steps still cost about half of
        # fp32's and the engine computes prompts in fp32 (decoders/emulated_bf16.py).
        return torch.bfloat16
    if name not in DTYPES:
        raise GuidecodeError(f"unknown dtype {dtype!r}; use one of: auto, {', '.join(DTYPES)}")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


@dataclass
class _Weights:
    model: torch.nn.Module
    tokenizer: object
    name: str
    from_cache: bool
    gguf: Path | None = None  # the GGUF file the weights came from
    ready: Path | None = None  # its ready-to-load cache


def load_model(
    spec: str = embedded.DEFAULT_MODEL,
    dtype: str = "auto",
    device: str = "auto",
    allow_download: bool = False,
    progress: Progress | None = None,
    weights: str = "auto",
) -> LoadedModel:
    """Load `spec`: an embedded name (0.5b, 1.5b), a local directory, a .gguf file or a hub id.
    `weights`: auto, quantized or dense (assistant/quantize.py)."""
    progress = progress or Progress.silent()
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    forced = resolve_weights(weights, False, torch_device)  # checks the name before the long part
    start = time.perf_counter()
    loaded = _load_any(spec, torch_dtype, allow_download, progress)
    model = loaded.model.to(torch_device).eval()
    summary = None
    if forced or (resolve_weights(weights, loaded.gguf is not None, torch_device) and _kernel_runs()):
        cache = loaded.ready.with_name("quantized") if loaded.gguf is not None and loaded.ready is not None else None
        summary = quantize_model(model, loaded.gguf, cache, progress)
    seconds = time.perf_counter() - start
    return LoadedModel(model, loaded.tokenizer, loaded.name, torch_dtype, torch_device, seconds, loaded.from_cache, summary)


def _kernel_runs() -> bool:
    """Whether the quantized kernel could be built here; `--weights auto` keeps dense weights where
    not (logged by the kernel's loader), `--weights quantized` then fails and says why."""
    from decoders import row_kernel

    return row_kernel.load().kernel is not None


def _load_any(spec: str, dtype: torch.dtype, allow_download: bool, progress: Progress) -> _Weights:
    if (model := embedded.lookup(spec)) is not None:
        gguf = prepare_embedded(model, progress)
        return _load_gguf(gguf, embedded.model_dir(model) / f"ready-{dtype_name(dtype)}", dtype, model.title, progress)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelUnavailable(f"GGUF file {spec!r} does not exist. {_alternatives()}")
        return _load_gguf(path, _gguf_cache_dir(path, dtype), dtype, path.name, progress)
    if path.is_dir():
        return _load_transformers(str(path), dtype, local_only=True, name=path.name, progress=progress)
    if path.exists() or spec.startswith((".", "/", "~")):
        raise ModelUnavailable(f"model path {spec!r} is neither a model directory nor a .gguf file. {_alternatives()}")
    return _load_transformers(spec, dtype, local_only=not allow_download, name=spec, progress=progress)


def _alternatives() -> str:
    names = ", ".join(f"{m.name} ({m.title})" for m in embedded.EMBEDDED.values())
    return f"The embedded models work offline: --model {' / '.join(embedded.EMBEDDED)} = {names}"


def prepare_embedded(model: embedded.EmbeddedModel, progress: Progress) -> Path:
    """Assemble and verify the embedded GGUF once; returns its path."""
    if embedded.is_assembled(model):
        return embedded.gguf_path(model)
    with alone(embedded.model_dir(model) / "assemble.lock", progress):
        if embedded.is_assembled(model):  # another process did it while this one waited
            return embedded.gguf_path(model)
        with progress.bytes(f"assembling {model.title}", model.size) as advance:
            return embedded.assemble(model, on_progress=advance)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """transformers' logging at errors only and its progress bars off while it loads (our rich bars
    say what happens), through its own switches; afterwards both are as they were, however the
    load ends."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


@contextmanager
def _fast_gguf_reading() -> Iterator[None]:
    """Three library attributes wrapped while transformers reads a GGUF file, and put back however
    that ends. transformers offers no way to pass them in (its GGUF loader imports `GGUFReader`
    and `dequantize` from `gguf` when called, and draws tqdm's own bar, which
    `disable_progress_bar` does not reach), so for that time they are replaced process-wide: keep
    the scope to the calls that read the file. The wrapped functions give what the originals give."""
    import gguf
    import transformers.modeling_gguf_pytorch_utils as gguf_utils

    with ExitStack() as scope:
        scope.enter_context(_wrapped(gguf_utils, "tqdm", lambda bar: functools.partial(bar, disable=True)))
        scope.enter_context(_wrapped(gguf, "dequantize", _from_ndarray))
        # transformers opens a new reader for the config and again for the weights; parsing the
        # metadata (151k token strings) costs ~12 s each time. A reader is read-only: share it.
        scope.enter_context(_wrapped(gguf, "GGUFReader", functools.lru_cache(maxsize=2)))
        yield


def _from_ndarray(dequantize):
    """gguf dequantizes in groups of 16 rows; on a np.memmap every group is a new memmap object,
    whose bookkeeping cost more than the arithmetic (~14 s of ~21 s for the 1.5B model). A plain
    ndarray view of the same mapped bytes gives the same values without it."""
    return lambda data, qtype: dequantize(np.asarray(data), qtype)


@contextmanager
def _wrapped(owner: object, name: str, wrap: Callable) -> Iterator[None]:
    """`owner.<name>` is `wrap(<what it was>)` inside, what it was after."""
    old = getattr(owner, name)
    setattr(owner, name, wrap(old))
    try:
        yield
    finally:
        setattr(owner, name, old)


def _load_transformers(source: str, dtype: torch.dtype, local_only: bool, name: str, progress: Progress) -> _Weights:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        with progress.phase(f"loading {name}"), _quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, local_files_only=local_only)
    except (OSError, ValueError) as error:
        where = "local directory" if Path(source).is_dir() else "model id"
        hint = "" if not local_only else " (offline: only the local Hugging Face cache was searched; pass --allow-download to fetch it)"
        reason = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        raise ModelUnavailable(f"cannot load {where} {source!r}{hint}: {reason}. {_alternatives()}") from None
    return _Weights(model, tokenizer, name, from_cache=False)


def _gguf_cache_dir(path: Path, dtype: torch.dtype) -> Path:
    # Keyed by the file's identity (resolved path, size, mtime): cheap, and a replaced file misses.
    stat = path.resolve().stat()
    key = f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}"
    return embedded.cache_root() / "gguf" / key / f"ready-{dtype_name(dtype)}"


def _load_gguf(gguf: Path, ready: Path, dtype: torch.dtype, name: str, progress: Progress) -> _Weights:
    converted = False
    if not (ready / "complete.json").is_file():
        with alone(ready.with_name(ready.name + ".lock"), progress):
            if not (ready / "complete.json").is_file():  # else another process converted it meanwhile
                _convert_gguf(gguf, ready, dtype, progress)
                converted = True
    # The first load reads back what it wrote, so it runs the very same module as every later one.
    weights = _load_transformers(str(ready), dtype, local_only=True, name=name, progress=progress)
    weights.from_cache = not converted
    weights.gguf, weights.ready = gguf, ready
    return weights


def _convert_gguf(gguf: Path, ready: Path, dtype: torch.dtype, progress: Progress) -> None:
    """Dequantize `gguf` into a plain safetensors checkpoint at `ready`.

    transformers parses the GGUF's metadata (151k token strings) separately for the config, the
    weights and the tokenizer, ~10 s each for these models; the tokenizer's conversion runs in a
    second process meanwhile, and the config is parsed once and handed to the weights' loader.
    """
    from transformers import AutoConfig, AutoModelForCausalLM

    tmp = ready.with_name(ready.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        with progress.phase(f"converting {gguf.name} to {dtype_name(dtype)} (once; later loads read a cache)"):
            with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
                tokenizer_done = pool.submit(_save_gguf_tokenizer, str(gguf), str(tmp))
                with _quiet_transformers(), _fast_gguf_reading():
                    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
                    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, config=config, dtype=dtype)
                tokenizer_done.result()
    except (OSError, ValueError, KeyError) as error:  # what transformers and gguf raise for a file they cannot read
        shutil.rmtree(tmp, ignore_errors=True)
        reason = str(error).strip().splitlines()[0].rstrip(".") if str(error).strip() else type(error).__name__
        raise ModelUnavailable(f"cannot read {gguf} as a GGUF model: {reason}. {_alternatives()}") from None
    with progress.phase("writing the ready-to-load cache"):
        _write_ready(model, tmp, dtype)
    (tmp / "complete.json").write_text(json.dumps({"source": str(gguf), "dtype": dtype_name(dtype)}))
    shutil.rmtree(ready, ignore_errors=True)
    tmp.replace(ready)


def _save_gguf_tokenizer(gguf: str, out: str) -> None:
    """Runs in a child process: convert the GGUF's tokenizer and save it under `out`."""
    from transformers import AutoTokenizer

    path = Path(gguf)
    with _quiet_transformers():
        with _fast_gguf_reading():
            tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        tokenizer.save_pretrained(out)


def _write_ready(model, out: Path, dtype: torch.dtype) -> None:
    """Save a GGUF-loaded (dequantized) model's weights, config and generation config under `out`.

    transformers refuses to save a GGUF-loaded model, so the dense state dict is written
    directly with a config stripped of its quantization section.
    """
    from safetensors.torch import save_file

    config = model.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = dtype
    state = {k: v.detach().to(dtype).contiguous() for k, v in model.state_dict().items()}
    if getattr(config, "tie_word_embeddings", False):
        state.pop("lm_head.weight", None)  # safetensors refuses shared storage; tying restores it
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
