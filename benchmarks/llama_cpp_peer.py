"""llama.cpp as the peer of `guidecode bench speed`: greedy and prompt lookup on the same GGUF file.

llama-cpp-python is optional (`pip install -e '.[peers]'`; it compiles llama.cpp, with the
CMAKE_ARGS `install_command` names for this CPU: docs/benchmarks.md). Without it, or for a model
that is not a GGUF file, the benchmark runs without these rows and says why.

What keeps the comparison fair:
- the file: the GGUF the model was loaded from (the embedded model's assembled file, or the
  user's .gguf), so llama.cpp runs the quantized weights our dense copy was dequantized from;
- the input: the same prompt token ids as every other method (not re-tokenized text), the same
  EOS ids (dropped from the answer, as everywhere) and the same token budget;
- greedy: temperature 0 makes llama-cpp-python's sampler chain penalties + argmax; the penalties
  are given their neutral values (repeat 1, frequency and presence 0), which llama.cpp skips;
- the clock: wall time of the whole call, prompt processing included, the KV cache cleared first
  (llama-cpp-python would otherwise reuse the prefix a previous call left, and a repeat of the
  same prompt would skip its processing); threads = torch's, the whole prompt in one batch.
Prompt lookup is llama-cpp-python's `LlamaPromptLookupDecoding` (drafts of up to 10 tokens copied
from the context), which makes the model compute logits for every prompt token: its cost as shipped.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from .environment import cpu_flags
from .speed_summary import PEER_BASELINE, Decoded

PROMPT_LOOKUP = "llama.cpp prompt lookup"
DRAFT_TOKENS = 10

# llama.cpp's ISA options and the /proc/cpuinfo flag each needs. Named, not GGML_NATIVE: a native
# build on the AMX Xeon VMs enables AMX, whose tile loads die with SIGILL there (the VM does not
# grant ggml's threads the tiles), so AMX stays off everywhere.
_ISA = (
    ("AVX", "avx"),
    ("AVX2", "avx2"),
    ("FMA", "fma"),
    ("F16C", "f16c"),
    ("AVX512", "avx512f"),
    ("AVX512_VBMI", "avx512vbmi"),
    ("AVX512_VNNI", "avx512_vnni"),
    ("AVX512_BF16", "avx512_bf16"),
)
_NO_AMX = "-DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"

# Every knob of llama-cpp-python's sampler that could move a greedy token, at its neutral value.
GREEDY = dict(temp=0.0, top_k=1, top_p=1.0, min_p=0.0, typical_p=1.0, repeat_penalty=1.0, frequency_penalty=0.0, presence_penalty=0.0, mirostat_mode=0)


@dataclass(frozen=True)
class PeerPlan:
    gguf: Path | None  # None: no llama.cpp rows
    note: str  # which file and version the rows run, or why there are none


def cmake_args(flags: set[str]) -> str:
    """CMAKE_ARGS for building llama-cpp-python on a CPU with these flags ("" off x86: native)."""
    if "avx" not in flags:
        return ""
    named = " ".join(f"-DGGML_{option}=ON" for option, flag in _ISA if flag in flags)
    return f"-DGGML_NATIVE=OFF {named} {_NO_AMX}"


def install_command(flags: set[str]) -> str:
    args = cmake_args(flags)
    return (f'CMAKE_ARGS="{args}" ' if args else "") + "pip install -e '.[peers]'"


def plan(model_spec: str) -> PeerPlan:
    """Whether `bench speed --model model_spec` can add llama.cpp rows, and on which file."""
    if importlib.util.find_spec("llama_cpp") is None:
        hint = install_command(cpu_flags())
        return PeerPlan(None, f"llama.cpp rows skipped: llama-cpp-python is not installed; for them (a ~10-minute compile): {hint}")
    gguf = gguf_file(model_spec)
    if gguf is None:
        return PeerPlan(None, f"llama.cpp rows skipped: {model_spec} is not a GGUF file, and llama.cpp runs only those")
    version = importlib.metadata.version("llama-cpp-python")
    return PeerPlan(gguf, f"llama.cpp rows: llama-cpp-python {version} on {gguf}")


def gguf_file(model_spec: str) -> Path | None:
    """The GGUF file `assistant.loading.load_model(model_spec)` reads, if it reads one."""
    from assistant import embedded

    if (model := embedded.lookup(model_spec)) is not None:
        return embedded.gguf_path(model)  # assembled by the load that precedes the benchmark
    path = Path(model_spec).expanduser()
    return path if path.suffix == ".gguf" else None


def methods(gguf: Path, longest: int, eos: frozenset[int]) -> dict[str, Callable[[list[int], int], Decoded]]:
    """Greedy and prompt lookup on `gguf`, for inputs of up to `longest` tokens (prompt + budget)."""
    import torch
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    threads = torch.get_num_threads()
    n_ctx = _round_up(longest + DRAFT_TOKENS + 16, 256)  # room for a draft past the budget
    common = dict(model_path=str(gguf), n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, n_threads_batch=threads, verbose=False)
    greedy = Llama(**common)
    # Separate instance: a draft model makes llama-cpp-python keep logits for every token, which
    # would slow plain greedy's prompt processing. The file is memory-mapped once for both.
    lookup = Llama(**common, draft_model=LlamaPromptLookupDecoding(num_pred_tokens=DRAFT_TOKENS))
    return {PEER_BASELINE: _timed(greedy, eos), PROMPT_LOOKUP: _timed(lookup, eos)}


def _round_up(n: int, step: int) -> int:
    return -(-n // step) * step


def _timed(llm, eos: frozenset[int]) -> Callable[[list[int], int], Decoded]:
    def decode(ids: list[int], budget: int) -> Decoded:
        llm.reset()  # forget the last call's tokens, so the whole prompt is processed again
        tokens: list[int] = []
        start = time.perf_counter()
        first = None  # when the first token came: prompt processing ends there
        with closing(llm.generate(ids, **GREEDY)) as stream:
            for token in stream:
                first = first or time.perf_counter()
                if token in eos:
                    break
                tokens.append(token)
                if len(tokens) >= budget:
                    break
            end = time.perf_counter()
        return Decoded(tokens, end - start, prompt_seconds=(first or end) - start)

    return decode
