"""The speed benchmark: its bookkeeping (lossless against fidelity, ratios), that transformers'
baselines run on an untouched copy of the model, the CLI's verdict, and the llama.cpp peer."""

import importlib.util
import json
import subprocess
import sys

import pytest
import torch
from rich.console import Console

from benchmarks import llama_cpp_peer, speed
from benchmarks.hf_baselines import alterations, hf_greedy
from benchmarks.speed import Models, check_stock, resolve_prompt_files
from benchmarks.speed_summary import BASELINE, OURS_PLAIN, PEER_BASELINE, Decoded, Run, first_difference, lossless, markdown, report, summarize
from tests.conftest import make_tiny_model

FAMILIES = {BASELINE: "transformers", PEER_BASELINE: "llama.cpp", OURS_PLAIN: "ours", "ours + fast": "ours"}


def run(method: str, prompt: str, tokens: list[int], seconds: float, **more) -> Run:
    return Run(method, prompt, Decoded(tokens, seconds, **more))


def runs_of_three_prompts(peer: bool = True) -> list[Run]:
    runs = [
        run(BASELINE, "a", [1, 2, 3, 4], 1.0),
        run(BASELINE, "b", [5, 6], 1.0),
        run(BASELINE, "c", [7], 1.0),
        run(OURS_PLAIN, "a", [1, 2, 3, 4], 1.0),
        run(OURS_PLAIN, "b", [5, 6], 1.0),
        run(OURS_PLAIN, "c", [8], 1.0),  # plain differs from transformers at token 0: fidelity, not losslessness
        run("ours + fast", "a", [1, 2, 3, 4], 0.5, forward_passes=2, accepted=2),  # 2x transformers
        run("ours + fast", "b", [5, 6], 0.25, forward_passes=1, accepted=1),  # 4x
        run("ours + fast", "c", [8], 1.0, forward_passes=1, accepted=0),  # 1x
    ]
    if peer:
        runs += [run(PEER_BASELINE, p, t, 0.5) for p, t in (("a", [1, 2, 9, 4]), ("b", [5, 6]), ("c", [8]))]
    return runs


def by_name(summaries):
    return {s.method: s for s in summaries}


def test_lossless_counts_against_ours_plain_and_fidelity_against_transformers_greedy():
    s = by_name(summarize(runs_of_three_prompts(), FAMILIES))
    fast = s["ours + fast"]
    assert fast.same_as_ours_plain.equal == 3 and fast.same_as_ours_plain.complete
    assert fast.same_as_transformers.equal == 2 and fast.same_as_transformers.first_differences == {"c": 0}
    assert s[OURS_PLAIN].same_as_transformers.cell() == "2/3 (≠ at 0)"
    assert s[PEER_BASELINE].same_as_ours_plain.first_differences == {"a": 2}
    assert s[OURS_PLAIN].same_as_llama_cpp.cell() == "2/3 (≠ at 2)"  # greedy agreement with the peer
    no_peer = {k: v for k, v in FAMILIES.items() if k != PEER_BASELINE}
    assert all(m.same_as_llama_cpp is None for m in summarize(runs_of_three_prompts(peer=False), no_peer))
    assert fast.accepted_per_pass == pytest.approx(3 / 4) and s[BASELINE].accepted_per_pass is None
    assert fast.tokens_per_second == 8.0  # median of 8, 8 and 1 tokens/s
    assert lossless(list(s.values()))


def test_a_method_of_ours_that_leaves_ours_plain_breaks_losslessness_wherever_transformers_stands():
    runs = runs_of_three_prompts() + [run("ours + broken", "a", [1, 2, 3, 4], 1.0), run("ours + broken", "b", [5, 7], 1.0), run("ours + broken", "c", [8], 1.0)]
    s = by_name(summarize(runs, FAMILIES | {"ours + broken": "ours"}))
    assert s["ours + broken"].same_as_ours_plain.first_differences == {"b": 1}
    assert not lossless(list(s.values()))
    assert not lossless([s[BASELINE]])  # no method of ours: nothing was shown lossless


def test_first_difference_counts_a_length_difference():
    assert first_difference([1, 2, 3], [1, 2, 3]) is None
    assert first_difference([1, 2, 3], [1, 5, 3]) == 1
    assert first_difference([1, 2], [1, 2, 3]) == 2
    assert first_difference([], [4]) == 0


def test_ratios_to_transformers_and_to_llama_cpp_when_it_ran():
    s = by_name(summarize(runs_of_three_prompts(), FAMILIES))
    assert s["ours + fast"].ratio == 2.0  # median of 2, 4 and 1
    assert s["ours + fast"].ratio_to_peer == 1.0  # median of 1, 2 and 0.5
    assert s[PEER_BASELINE].ratio == 2.0 and s[PEER_BASELINE].ratio_to_peer == 1.0
    without = by_name(summarize(runs_of_three_prompts(peer=False), {k: v for k, v in FAMILIES.items() if k != PEER_BASELINE}))
    assert without["ours + fast"].ratio == 2.0 and without["ours + fast"].ratio_to_peer is None


def test_phase_rates_where_the_first_token_was_timed():
    timed = Run(PEER_BASELINE, "a", Decoded([1, 2, 3, 4, 5], 2.0, prompt_seconds=1.0), prompt_tokens=100)
    assert timed.phase_rates == (100.0, 4.0)  # 4 tokens after the first in the second after it
    assert run(OURS_PLAIN, "a", [1], 1.0).phase_rates is None


def a_setup(**fields) -> dict:
    """The `setup` block of a `bench speed` result, as the tests' runs describe it."""
    machine = {"cpu": "test", "cores": 2, "torch": "t", "transformers": "t"}
    return {
        "model": "m",
        "draft_model": None,
        "dtype": "bfloat16",
        "device": "cpu",
        "timing": "wall",
        "repetitions": 1,
        "baselines": "transformers on an untouched copy",
        "peer": "llama.cpp rows skipped: pip install -e '.[peers]'",
        "machine": machine,
        **fields,
    }


def result_of(runs: list[Run], families: dict) -> dict:
    from dataclasses import asdict

    summaries = summarize(runs, families)
    return {"setup": a_setup(), "lossless": lossless(summaries), "workloads": [{"workload": "w", "methods": [asdict(m) for m in summaries], "runs": []}]}


def rendered(result: dict) -> str:
    console = Console(width=250, record=True, file=open("/dev/null", "w"))
    console.print(report(result))
    return console.export_text()


def test_table_shows_the_llama_cpp_column_only_when_it_ran():
    with_peer = rendered(result_of(runs_of_three_prompts(), FAMILIES))
    assert "× llama.cpp greedy" in with_peer and "= ours plain" in with_peer and "2/3 (≠ at 0)" in with_peer
    assert "'.[peers]'" in with_peer  # brackets printed as text, not taken for markup
    families = {k: v for k, v in FAMILIES.items() if k != PEER_BASELINE}
    without = rendered(result_of(runs_of_three_prompts(peer=False), families))
    assert "× llama.cpp greedy" not in without and "= llama.cpp greedy" not in without
    assert "= llama.cpp greedy" in with_peer


def test_markdown_holds_the_same_rows_as_the_table():
    result = result_of(runs_of_three_prompts(), FAMILIES)
    text = markdown(result)
    table_rows = [line for line in text.splitlines() if line.startswith("| ")][1:]  # after the header
    assert len(table_rows) == len(result["workloads"][0]["methods"])
    for line, method in zip(table_rows, result["workloads"][0]["methods"]):
        assert f"| {method['method']} |" in line and f"| {method['tokens_per_second']:.1f} |" in line
    assert "2/3 (≠ at 0)" in text and "× llama.cpp greedy" in text and "'.[peers]'" in text


# --- the baselines run on an untouched model ---------------------------------------------------


@pytest.fixture
def loaded(byte_tokenizer):
    from assistant.loading import LoadedModel

    def load(seed: int = 0) -> LoadedModel:
        return LoadedModel(make_tiny_model(len(byte_tokenizer), seed), byte_tokenizer, f"tiny-{seed}", torch.float32, torch.device("cpu"), 0.0, True)

    return load


def test_alterations_name_what_our_engine_may_change(loaded):
    model = loaded().model
    assert alterations(model) == []
    model.model.layers[0].mlp.down_proj.register_forward_hook(lambda *a: None)
    model.lm_head.forward = lambda x: x
    model.set_attn_implementation("eager")  # another stock one: fine
    found = alterations(model)
    assert found == ["model.layers.0.mlp.down_proj: forward hooks", "lm_head: forward replaced on the instance"]


def test_our_engine_leaves_the_stock_copy_untouched(loaded):
    from decoders import Engine

    stock, ours = loaded(), loaded()
    Engine(ours.model)
    assert ours.model.config._attn_implementation == "guidecode_exact"
    assert stock.model.config._attn_implementation == "sdpa"
    for module in stock.model.modules():
        assert not module._forward_hooks and not module._forward_pre_hooks and "forward" not in module.__dict__
    assert alterations(stock.model) == []
    check_stock(Models(ours, stock))
    with pytest.raises(speed.BaselineAltered, match="is the model our engine runs"):
        check_stock(Models(ours, ours))
    with pytest.raises(speed.BaselineAltered, match="guidecode_exact"):
        check_stock(Models(stock, ours))


def test_transformers_methods_time_the_stock_copy_and_ours_the_engine(loaded):
    stock, ours = loaded(seed=1), loaded(seed=0)  # different weights tell which model answered
    eos = frozenset({256})
    methods = {m.name: m.decode for m in speed.transformers_methods(Models(ours, stock), eos) + speed.our_methods(Models(ours, stock), eos)}
    ids = list(b"def f(x):\n")
    assert methods[BASELINE](ids, 12).tokens == hf_greedy(stock.model, ids, 12, set(eos))[0]
    assert methods[BASELINE](ids, 12).tokens != methods[OURS_PLAIN](ids, 12).tokens
    assert alterations(stock.model) == []


def test_benchmark_end_to_end_on_a_tiny_model(loaded, tmp_path):
    prompts = tmp_path / "tiny.jsonl"
    prompts.write_text("".join(json.dumps({"id": f"p{i}", "prompt": f"def f{i}(x):\n    return x", "max_new_tokens": 12}) + "\n" for i in range(2)))
    ours, stock = loaded(), loaded()
    result = speed.benchmark(Models(ours, stock), [("tiny", prompts)], bandwidth_gib=0.01)
    assert result["lossless"] is True
    methods = {m["method"]: m for m in result["workloads"][0]["methods"]}
    assert methods[OURS_PLAIN]["same_as_ours_plain"]["equal"] == 2 and methods[OURS_PLAIN]["family"] == "ours"
    assert methods[BASELINE]["same_as_transformers"]["equal"] == 2 and methods[BASELINE]["ratio_to_peer"] is None
    setup = result["setup"]
    assert "untouched" in setup["baselines"] and setup["weights"] == "dense float32"
    linears = [m for m in stock.model.modules() if isinstance(m, torch.nn.Linear)]
    dense = sum(4 * (m.weight.numel() + (m.bias.numel() if m.bias is not None else 0)) for m in linears)  # float32, untied
    assert setup["weight_bytes_per_token"] == {"ours": dense, "transformers": dense, "llama.cpp": None}
    assert setup["read_bandwidth_gb_per_s"] > 0
    plain = methods[OURS_PLAIN]  # its prompt is timed apart now, so its decoding speed alone is known
    assert plain["decode_tokens_per_second"] > 0 and plain["weight_bytes_per_token"] == dense
    assert plain["decode_gb_per_s"] == pytest.approx(dense * plain["decode_tokens_per_second"] / 1e9)
    assert plain["bandwidth_share"] == pytest.approx(plain["decode_gb_per_s"] / setup["read_bandwidth_gb_per_s"])
    assert methods["ours + n-gram"]["decode_tokens_per_second"] > 0 and methods["ours + n-gram"]["decode_gb_per_s"] is None
    assert methods[BASELINE]["weight_bytes_per_token"] == dense and methods[BASELINE]["decode_gb_per_s"] is None
    assert all(r["prompt_tokens_per_second"] is not None for r in result["workloads"][0]["runs"] if r["method"].startswith("ours"))
    json.dumps(result)


def test_cli_fails_in_red_when_a_method_of_ours_is_not_lossless(monkeypatch, capsys, loaded):
    import assistant.loading
    from assistant.cli import main

    loads = []
    monkeypatch.setattr(assistant.loading, "load_model", lambda spec, *a, weights: loads.append((spec, weights)) or loaded())
    broken = runs_of_three_prompts(peer=False) + [run("ours + broken", p, [0], 1.0) for p in "abc"]
    families = {k: v for k, v in FAMILIES.items() if k != PEER_BASELINE} | {"ours + broken": "ours"}
    monkeypatch.setattr(speed, "benchmark", lambda models, *a, **k: result_of(broken, families))
    assert main(["bench", "speed", "--limit", "1", "--prompts", "humaneval", "--weights", "quantized"]) == 1
    assert loads == [("0.5b", "dense"), ("0.5b", "quantized")]  # the target twice: a stock copy, always dense, and ours
    err = capsys.readouterr().err
    assert "NOT LOSSLESS" in err and "llama.cpp rows" in err


# --- the prompts files ---------------------------------------------------------------------------


def test_prompt_files_are_shipped_names_or_existing_paths(tmp_path):
    assert [name for name, _ in resolve_prompt_files(["humaneval", "edit"])] == ["humaneval", "edit"]
    mine = tmp_path / "mine.jsonl"
    mine.write_text('{"id": "x", "prompt": "def f():\\n"}\n')
    assert resolve_prompt_files([str(mine)]) == [("mine", mine)]
    with pytest.raises(FileNotFoundError, match="humaneval, infile, edit"):
        resolve_prompt_files([str(tmp_path / "missing.jsonl")])


def test_cli_reports_a_malformed_prompts_file_before_loading_a_model(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n')
    out = subprocess.run([sys.executable, "-m", "assistant.cli", "bench", "speed", "--prompts", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.startswith("guidecode: error:") and "bad.jsonl" in out.stderr and "prompt" in out.stderr


# --- the llama.cpp peer --------------------------------------------------------------------------

AMX_XEON = {"avx", "avx2", "fma", "f16c", "avx512f", "avx512vbmi", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"}
AVX2_EPYC = {"avx", "avx2", "fma", "f16c"}


def test_build_flags_name_the_isa_and_keep_amx_off():
    # The string that built llama-cpp-python on the AMX Xeon (FACTS.md), and the AVX2 EPYC's without AVX512.
    assert llama_cpp_peer.cmake_args(AMX_XEON) == (
        "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VBMI=ON "
        "-DGGML_AVX512_VNNI=ON -DGGML_AVX512_BF16=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    )
    assert "AVX512" not in llama_cpp_peer.cmake_args(AVX2_EPYC) and "-DGGML_AMX_TILE=OFF" in llama_cpp_peer.cmake_args(AVX2_EPYC)
    assert llama_cpp_peer.install_command(set()) == "pip install -e '.[peers]'"


def test_peer_rows_are_skipped_with_a_reason(monkeypatch, tmp_path):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a))
    missing = llama_cpp_peer.plan("0.5b")
    assert missing.gguf is None and "not installed" in missing.note and "pip install -e '.[peers]'" in missing.note
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "llama_cpp" else real_find_spec(name, *a))
    checkpoint = llama_cpp_peer.plan(str(tmp_path))
    assert checkpoint.gguf is None and "not a GGUF file" in checkpoint.note
    assert llama_cpp_peer.gguf_file(str(tmp_path / "m.gguf")) == tmp_path / "m.gguf"
    assert llama_cpp_peer.gguf_file("0.5b").name == "Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"


@pytest.mark.real_model
def test_peer_decodes_greedily_on_the_given_ids_and_stops_like_ours():
    llama_cpp = pytest.importorskip("llama_cpp")  # the 'peers' extra; CI does not install it
    from assistant import embedded
    from assistant.loading import prepare_embedded
    from assistant.progress import Progress

    gguf = prepare_embedded(embedded.lookup("0.5b"), Progress.silent())
    ids = [750, 75698, 1445, 982, 262, 4210, 220]  # Qwen2.5 ids; fed as they are, never re-tokenized
    # The reference: argmax of llama.cpp's own logits, one token at a time, no sampler at all.
    reference = llama_cpp.Llama(model_path=str(gguf), n_ctx=256, logits_all=True, n_threads=torch.get_num_threads(), verbose=False)
    reference.eval(ids)
    expected = []
    for _ in range(6):
        expected.append(int(reference.scores[reference.n_tokens - 1].argmax()))
        reference.eval(expected[-1:])
    stop_at = next(i for i in range(2, len(expected)) if expected[i] not in expected[:i])
    decoders = llama_cpp_peer.methods(gguf, 64, frozenset({expected[stop_at]}))  # that token plays EOS
    greedy = decoders[PEER_BASELINE]
    first, again = greedy(ids, 2), greedy(ids, 2)
    assert first.tokens == again.tokens == expected[:2]  # the budget, and the same again on a second call
    assert 0 < first.prompt_seconds < first.seconds
    assert greedy(ids, 6).tokens == expected[:stop_at]  # stops at an EOS id, which is dropped
    assert len(decoders[llama_cpp_peer.PROMPT_LOOKUP](ids, 6).tokens) <= stop_at
