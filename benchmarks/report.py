"""The results tables of README.md and docs/*.md, generated from the committed result files.

A page holds named blocks,

    <!-- generated: NAME -->
    ...
    <!-- end generated: NAME -->

whose text is what `BLOCKS[NAME]()` returns: Markdown made from files of benchmarks/results/, each
table followed by a caption line per file it read ("From `benchmarks/results/X.json`: how it was
obtained, on <machine kind>"). So a measured figure lives once, in its result file, and a page
cannot drift from it unnoticed:

    python -m benchmarks.report           # rewrite every block of README.md and docs/*.md
    python -m benchmarks.report --check   # exit 1, listing stale and unknown blocks (tests/test_docs.py runs it)

To add a table: write a function that returns its Markdown (read files with `load`, end with
`caption(...)` of what it read), add one entry to BLOCKS, put the two markers where it goes in a
page (each marker a line of its own), and run the command. A file's machine kind is its `machine_kind` key, else the kind its name
holds (one of MACHINES); its "how" is what HOW makes of its benchmark's setup record (by the file
name's first word), else its `how` text.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import speed_summary
from .stats import sign_test

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

MACHINES = {
    "amx-xeon": "Intel Xeon with AMX",
    "avx512-epyc": "AMD EPYC with avx512_bf16",
    "avx2-epyc": "AMD EPYC, AVX2 only",
}

# A marker is a line of its own, so a page may quote one inline.
BLOCK = re.compile(r"^<!-- generated: (?P<name>[\w.-]+) -->\n(?P<body>.*?)^<!-- end generated: (?P=name) -->$", re.S | re.M)
MARKER = re.compile(r"^<!-- (end )?generated: ([\w.-]+) -->$", re.M)


class ReportError(Exception):
    """A block that cannot be rendered: an unknown name, a missing or unreadable result file."""


# --------------------------------------------------------------------------- result files


@dataclass(frozen=True)
class Result:
    file: str  # name inside benchmarks/results/
    data: dict

    @property
    def kind(self) -> str:
        """The machine kind it was measured on."""
        kind = self.data.get("machine_kind") or next((k for k in MACHINES if k in self.file), None)
        if kind not in MACHINES:
            raise ReportError(f"benchmarks/results/{self.file}: no machine kind (a 'machine_kind' key or one of {', '.join(MACHINES)} in its name)")
        return kind

    @property
    def how(self) -> str:
        prefix = self.file.split("-")[0]
        if prefix in HOW:
            return HOW[prefix](self.data)
        if isinstance(self.data.get("how"), str):
            return self.data["how"]
        raise ReportError(f"benchmarks/results/{self.file}: it does not say how it was obtained (a 'how' text, or a setup HOW can read)")


_read: list[str] | None = None  # while recording: the files the blocks being rendered load


def load(file: str) -> Result:
    """A committed result file by its name in benchmarks/results/."""
    path = RESULTS / file
    if not path.is_file():
        raise ReportError(f"benchmarks/results/{file}: no such result file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ReportError(f"benchmarks/results/{file}: not JSON ({e})") from e
    if _read is not None:
        _read.append(file)
    return Result(file, data)


def caption(*results: Result) -> str:
    """One line per file under a table: which file, how it was obtained, on which machine kind."""
    lines = []
    for r in results:
        how = r.how.strip().rstrip(".")
        lines.append(f"From `benchmarks/results/{r.file}`: {how}; on {r.kind} ({MACHINES[r.kind]}).")
    return "\n\n".join(lines)


# How a benchmark's own setup record reads, for files that carry a setup rather than a `how` text.


def _short_model(setup: dict) -> str:
    """The model a run's setup names, as a table shows it: "Qwen2.5-Coder-0.5B-Instruct (quantized, cpu)" -> "0.5B"."""
    return setup["model"].split(" ")[0].removeprefix("Qwen2.5-Coder-").removesuffix("-Instruct")


def _model_flag(name: str | None, flag: str = "--model") -> str:
    short = {"Qwen2.5-Coder-0.5B-Instruct": "0.5b", "Qwen2.5-Coder-1.5B-Instruct": "1.5b"}
    if not name or (short.get(name) == "0.5b" and flag == "--model"):
        return ""  # the default
    return f" {flag} {short.get(name, name)}"


def _versions(machine: dict) -> str:
    return f"torch {machine['torch']}, transformers {machine['transformers']}, {machine['cores']} cores"


def _speed_how(data: dict) -> str:
    s = data["setup"]
    counts = {w["prompts"] for w in s["workloads"].values()}
    limit = f" --limit {counts.pop()}" if len(counts) == 1 else ""
    repeat = f" --repeat {s['repetitions']}" if s["repetitions"] > 1 else ""
    command = f"guidecode bench speed{_model_flag(s['model'])}{_model_flag(s['draft_model'], '--draft-model')}{limit}{repeat} --json"
    weights = s.get("weights") or "dense bf16 weights (today's `--weights dense`; the file predates the option)"
    peer = s.get("peer", "").split(" on /")[0].removeprefix("llama.cpp rows: ")
    workloads = ", ".join(f"{name} ({w['prompts']} prompts)" for name, w in s["workloads"].items())
    return (
        f"`{command}`: {s['model']}" + (f" with draft model {s['draft_model']}" if s["draft_model"] else "") + f", {s['dtype']}, ours on {weights}; "
        f"workloads {workloads}; transformers on a separately loaded, untouched copy"
        + (f"; llama.cpp: {peer} on the same GGUF file" if peer.startswith("llama-cpp-python") else "")
        + f"; {s['timing']}; {_versions(s['machine'])}"
    )


def _passes_how(data: dict) -> str:
    s = data["setup"]
    bf16 = "native bf16" if s["native_bf16"] else "bf16 emulated by the CPU"
    return (
        f"`guidecode bench passes{_model_flag(s['model'])} --context {s['context']} --repeat {s['repeat']} --json`: {s['model']}, "
        f"{s['context']} tokens of prompt, median of {s['repeat']}, {s['threads']} threads, {bf16}; {_versions(s)}"
    )


def _lsp_how(data: dict) -> str:
    h = data["how"]
    options = ", ".join(f"{k}={v}" for k, v in h["server_options"].items()) or "the server's defaults"
    accept = "" if h["accept"] else " --no-accept"
    return (
        f"`guidecode bench lsp --file {Path(h['file']).name} --start-line {h['start_line']} --lines {h['typed_lines']} --seed {h['seed']}{accept} --json` "
        f"({Path(h['file']).name}, {h['file_lines']} lines, {h['typed_chars']} characters typed): {h['model']}, typing {h['typing_cps']:g} characters/s, "
        f"pauses of {h['pauses_s'][0]:g}-{h['pauses_s'][1]:g} s at line ends and with chance {h['random_pause_chance']:g} after a keystroke, {options}, "
        f"{h['repetitions']} run; {_versions(h)}"
    )


def _serve_memory_how(data: dict) -> str:
    run = data["runs"][0]
    flag = "" if "0.5B" in run["model"] else " --model 1.5b"
    return f"`python -m benchmarks.serve_memory{flag} --file {Path(run['file']).name}` (the standard library's): {data['how']}; {_versions(run['machine'])}"


HOW: dict[str, Callable[[dict], str]] = {"speed": _speed_how, "passes": _passes_how, "lsp": _lsp_how, "serve": _serve_memory_how}


# --------------------------------------------------------------------------- Markdown helpers


def table(header: list[str], rows: list[list[str]], right: int = 1) -> str:
    """A Markdown table; columns from index `right` on are right-aligned."""
    align = ["---" if i < right else "---:" for i in range(len(header))]
    return "\n".join("| " + " | ".join(row) + " |" for row in [header, align, *rows])


def _x(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}x"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}% ({part}/{whole})"


def _methods(result: Result, workload: str) -> dict[str, dict]:
    return {m["method"]: m for w in result.data["workloads"] if w["workload"] == workload for m in w["methods"]}


def _default(methods: dict[str, dict]) -> dict:
    return next(m for name, m in methods.items() if name.endswith("(default)"))


def _workloads(result: Result) -> list[str]:
    return [w["workload"] for w in result.data["workloads"]]


def _lossless_line(result: Result) -> str:
    ours = [m for w in result.data["workloads"] for m in w["methods"] if m["family"] == "ours"]
    prompts = sum(w["methods"][0]["prompts"] for w in result.data["workloads"])
    if result.data.get("lossless"):
        return f"Lossless: every method of ours gave the tokens of our plain decoding on all {prompts} prompts."
    broken = sorted({m["method"] for m in ours if m["same_as_ours_plain"]["equal"] < m["same_as_ours_plain"]["prompts"]})
    return f"NOT lossless: {', '.join(broken)} differed from our plain decoding."


# --------------------------------------------------------------------------- speed (docs/speculation.md, docs/quantization.md)


def speed_table(file: str) -> str:
    """`guidecode bench speed`'s table, as the command prints it."""
    r = load(file)
    rows = [row for w in r.data["workloads"] for row in speed_summary._rows(r.data, w)]
    header = speed_summary._columns(r.data)
    return "\n\n".join([table(header, rows, right=2), _lossless_line(r), caption(r)])


def speed_phases(*files: str) -> str:
    """Plain decoding against llama.cpp on the same GGUF: prompt and decoding apart, and the share of the read bandwidth."""
    rows, results = [], [load(f) for f in files]
    for r in results:
        bandwidth = r.data["setup"]["read_bandwidth_gb_per_s"]
        for workload in _workloads(r):
            m = _methods(r, workload)
            ours, peer = m[speed_summary.OURS_PLAIN], m[speed_summary.PEER_BASELINE]
            rows.append(
                [
                    _short_model(r.data["setup"]),
                    workload,
                    _x(ours["ratio_to_peer"]),
                    _x(_default(m)["ratio_to_peer"]),
                    f"{ours['decode_tokens_per_second']:.1f} / {peer['decode_tokens_per_second']:.1f}",
                    f"{ours['prompt_tokens_per_second']:.0f} / {peer['prompt_tokens_per_second']:.0f}",
                    f"{ours['weight_bytes_per_token'] / 1e9:.2f} / {peer['weight_bytes_per_token'] / 1e9:.2f}",
                    f"{ours['bandwidth_share']:.0%} / {peer['bandwidth_share']:.0%} of {bandwidth:.1f}",
                ]
            )
    header = [
        "model",
        "workload",
        "ours plain ÷ llama.cpp greedy",
        "ours default ÷ llama.cpp greedy",
        "decoding tok/s, ours / llama.cpp",
        "prompt tok/s, ours / llama.cpp",
        "GB of weights a token, ours / llama.cpp",
        "read bandwidth used while decoding (GB/s measured)",
    ]
    return "\n\n".join([table(header, rows, right=2), caption(*results)])


def drafter_choice() -> str:
    """The default drafter: the runs that chose it (dense weights), each method's tok/s and accepted tokens a pass."""
    runs = [
        ("speed-amx-xeon-0.5b-dense-union-drafter.json", "adaptive union of n-gram and Token Recycling"),
        ("speed-amx-xeon-0.5b-dense.json", "adaptive n-gram lookup"),
        ("speed-amx-xeon-1.5b-draft-0.5b-dense-union-drafter.json", "adaptive union of n-gram, Token Recycling and the draft model"),
        ("speed-amx-xeon-1.5b-draft-0.5b-dense.json", "adaptive draft model"),
    ]
    columns = ["ours, no speculation", "ours + n-gram", "ours + token recycling", "ours + draft model"]
    rows, results = [], []
    for file, default in runs:
        r = load(file)
        results.append(r)
        for workload in _workloads(r):
            m = _methods(r, workload)
            cells = [_speed_cell(m.get(c)) for c in columns]
            rows.append([_short_model(r.data["setup"]), default, workload, *cells, _speed_cell(_default(m))])
    header = ["model", "default drafter in the run", "workload", *columns, "the run's default"]
    note = "Cells: tok/s (median), then drafted tokens accepted per forward pass."
    return "\n\n".join([table(header, rows, right=3), note, caption(*results)])


def _speed_cell(m: dict | None) -> str:
    if m is None:
        return "–"
    drafted = m["accepted_per_pass"] is not None and m["method"] != speed_summary.OURS_PLAIN
    accepted = f" ({m['accepted_per_pass']:.2f})" if drafted else ""
    return f"{m['tokens_per_second']:.1f}{accepted}"


# --------------------------------------------------------------------------- forward passes (docs/exactness.md)


def passes_table(file: str) -> str:
    """`guidecode bench passes`: what a forward pass costs by its number of tokens, per route."""
    r = load(file)
    context = r.data["setup"]["context"]
    sizes = sorted({int(n) for route in r.data["routes"] for n in route["pass_ms"]})
    rows = []
    for route in r.data["routes"]:
        linear = route.get("linear_ms")
        linear_cell = f"{linear:.1f} ms ({route['weight_bytes'] / linear / 1e6:.1f} GB/s)" if linear else "–"
        rest = f"{route['pass_ms']['1'] - linear:.1f} ms" if linear else "–"
        times = [f"{route['pass_ms'][str(n)]:.0f} ms" for n in sizes]
        rows.append([route["route"], f"{route['prefill_ms']:.0f} ms", *times, linear_cell, rest, "yes" if route["exact"] else "no"])
    header = [
        "route",
        f"the {context}-token prompt",
        *[f"{n} token{'s' * (n > 1)}" for n in sizes],
        "linear layers of a step alone",
        "the rest of a step",
        "rows exact at every pass size",
    ]
    return "\n\n".join([table(header, rows), caption(r)])


# --------------------------------------------------------------------------- quantized weights (docs/quantization.md)


def quantized_fidelity() -> str:
    """HumanEval greedy with the file's quantized values against dense bf16, same machine and code."""
    rows, results = [], []
    for file in ("eval-greedy-0.5b-quantized-vs-dense-amx-xeon.json", "eval-greedy-1.5b-quantized-vs-dense-amx-xeon.json"):
        r = load(file)
        results.append(r)
        dense, quantized = r.data["runs"]["dense"], r.data["runs"]["quantized"]
        rows.append(
            [
                r.data["model"],
                _pct(quantized["passed"], quantized["n_tasks"]),
                _pct(dense["passed"], dense["n_tasks"]),
                ", ".join(t.removeprefix("HumanEval/") for t in r.data["only_quantized_passed"]),
                ", ".join(t.removeprefix("HumanEval/") for t in r.data["only_dense_passed"]),
                f"{quantized['generation_seconds']:.0f} s / {dense['generation_seconds']:.0f} s",
            ]
        )
    header = ["model", "pass@1, quantized", "pass@1, dense bf16", "HumanEval tasks only quantized passed", "only dense passed", "generation, quantized / dense"]
    return "\n\n".join([table(header, rows), caption(*results)])


def serve_memory() -> str:
    """Resident memory of the language server's model process, dense against quantized."""
    r = load("serve-memory-amx-xeon-0.5b.json")
    rows = [[run["model"], run["weights"], f"{run['rss_mb']:,} MB", f"{run['uss_mb']:,} MB", str(run["completions"])] for run in r.data["runs"]]
    return "\n\n".join([table(["model", "`--weights`", "resident (RSS)", "unique (USS)", "completions before measuring"], rows, right=2), caption(r)])


# --------------------------------------------------------------------------- editor latency (docs/editors.md)


def lsp_typing() -> str:
    """`guidecode bench lsp`: typing replayed through the real server, one column per committed run."""
    results = [load(path.name) for path in sorted(RESULTS.glob("lsp-*.json"))]
    if not results:
        return "No run is committed yet: `guidecode bench lsp --file FILE --json` prints one."

    def ms(value) -> str:
        return "–" if value is None else f"{value:.0f} ms"

    def share(part: int, whole: int) -> str:
        return f"{part} of {whole} ({part / whole:.0%})" if whole else "–"

    measures: list[tuple[str, Callable[[dict], str]]] = [
        ("pauses with ghost text before they ended", lambda d: share(d["pauses"]["shown"], d["pauses"]["n"])),
        ("pause start to ghost text, p50 / p95", lambda d: f"{ms(d['pauses']['shown_ms']['p50'])} / {ms(d['pauses']['shown_ms']['p95'])}"),
        (
            "first request on the newly opened file: ghost text / whole",
            lambda d: f"{ms(d['first_request']['ghost_text_ms'])} / {ms(d['first_request']['whole_ms'])}",
        ),
        ("shown text was the next line / its first word", lambda d: f"{d['pauses']['line_match']} / {d['pauses']['word_match']} of {d['pauses']['shown']}"),
        ("accepted (characters not typed)", lambda d: f"{d['pauses']['accepted']} ({d['pauses']['accepted_chars']})"),
        ("requests; generations finished / cancelled / precomputed after an accept", lambda d: _generations(d["server"])),
        ("answers from a running generation / a finished one / precomputed", lambda d: _answers(d["server"])),
        ("answers given partly, then refreshed", lambda d: f"{d['server']['partial']}, {d['server']['refreshes']}"),
        ("prompt tokens whose prefill the cache saved", lambda d: f"{d['server']['prefillTokensSaved'] / max(d['server']['promptTokens'], 1):.0%}"),
    ]
    header = ["measure", *[f"{Path(r.data['how']['file']).name} ({r.data['how']['model'].split(' ')[0]})" for r in results]]
    rows = [[name, *[cell(r.data) for r in results]] for name, cell in measures]
    return "\n\n".join([table(header, rows), caption(*results)])


def _generations(server: dict) -> str:
    generations = server["generations"]
    return f"{server['requests']}; {generations['requested']} / {server['cancelled']} / {generations['lookahead']}"


def _answers(server: dict) -> str:
    return f"{server['reused']} / {server['cacheHits']['typedAhead']} / {server['precomputed']}"


# --------------------------------------------------------------------------- HumanEval (docs/search.md, docs/evaluation.md)

SEARCH_RUNS = [  # (model, decoder as the table names it, rollouts, file)
    ("0.5B", "greedy", 1, "eval-greedy-0.5b-avx2-epyc.json"),
    ("0.5B", "planning search", 4, "eval-search4-sampled-0.5b-avx2-epyc.json"),
    ("0.5B", "planning search", 16, "eval-search16-sampled-0.5b-avx2-epyc.json"),
    ("0.5B", "sample-and-filter", 16, "eval-sample-filter16-0.5b-avx2-epyc.json"),
    ("1.5B", "greedy", 1, "eval-greedy-1.5b-avx2-epyc.json"),
    ("1.5B", "planning search", 4, "eval-search4-sampled-1.5b-avx2-epyc.json"),
    ("1.5B", "planning search", 16, "eval-search16-sampled-1.5b-avx2-epyc.json"),
    ("1.5B", "sample-and-filter", 16, "eval-sample-filter16-1.5b-avx2-epyc.json"),
]


def _solved_public(record: dict) -> bool:
    public = record.get("public")
    return bool(public) and public[1] > 0 and public[0] == public[1]


def search_humaneval() -> str:
    """HumanEval pass@1 on the hidden tests: greedy, planning search and sample-and-filter at a budget of programs."""
    rows, results, greedy = [], [], {}
    for model, decoder, rollouts, file in SEARCH_RUNS:
        r = load(file)
        results.append(r)
        d = r.data
        greedy.setdefault(model, d["passed"])
        public = f"{d['public_solved']} of {d['with_public_tests']}" if d.get("with_public_tests") else "–"
        right = sum(t["passed"] for t in d["tasks"].values() if _solved_public(t))
        rows.append(
            [
                model,
                decoder,
                str(rollouts),
                _pct(d["passed"], d["n_tasks"]),
                f"{d['passed'] / greedy[model]:.2f}x",
                public,
                f"{right} of {d['public_solved']}" if d.get("with_public_tests") else "–",
                f"{d['rollouts']:,}" if d.get("rollouts") else str(d["n_tasks"]),
            ]
        )
    header = [
        "model",
        "decoder",
        "programs a task (at most)",
        "pass@1, hidden tests",
        "× greedy",
        "tasks whose answer passes its public tests",
        "of those, right",
        "programs written",
    ]
    return "\n\n".join([table(header, rows, right=2), caption(*results)])


def search_vs_sample_filter() -> str:
    """Planning search against sample-and-filter at 16 programs, task by task."""
    rows, results = [], []
    for model in ("0.5b", "1.5b"):
        search, sampled = load(f"eval-search16-sampled-{model}-avx2-epyc.json"), load(f"eval-sample-filter16-{model}-avx2-epyc.json")
        results += [search, sampled]
        s, f = search.data["tasks"], sampled.data["tasks"]
        both = sum(s[t]["passed"] and f[t]["passed"] for t in s)
        only_s = sum(s[t]["passed"] and not f[t]["passed"] for t in s)
        only_f = sum(f[t]["passed"] and not s[t]["passed"] for t in s)
        public_only_s = sum(_solved_public(s[t]) and not _solved_public(f[t]) for t in s)
        public_only_f = sum(_solved_public(f[t]) and not _solved_public(s[t]) for t in s)
        rows.append([model.upper(), str(both), str(only_s), str(only_f), f"{sign_test(only_s, only_f):.2f}", str(public_only_s), str(public_only_f)])
    header = [
        "model",
        "tasks both pass",
        "search only",
        "sample-and-filter only",
        "two-sided sign test p",
        "public tests passed: search only",
        "sample-and-filter only",
    ]
    return "\n\n".join([table(header, rows), caption(*results)])


def humaneval_greedy() -> str:
    """Greedy HumanEval pass@1 by model, machine kind and weights: every committed greedy run."""
    rows, results = [], []
    for model in ("0.5b", "1.5b"):
        r = load(f"eval-greedy-{model}-avx2-epyc.json")
        results.append(r)
        rows.append([r.data["model"], r.kind, "dense bf16", _pct(r.data["passed"], r.data["n_tasks"])])
        q = load(f"eval-greedy-{model}-quantized-vs-dense-amx-xeon.json")
        results.append(q)
        for weights, run in q.data["runs"].items():
            rows.append(
                [q.data["model"], q.kind, "dense bf16" if weights == "dense" else "the GGUF file's quantized values", _pct(run["passed"], run["n_tasks"])]
            )
    return "\n\n".join([table(["model", "machine kind", "weights", "pass@1"], rows, right=3), caption(*results)])


# --------------------------------------------------------------------------- README


def _search_on_dev(data: dict) -> str:
    rows = {row["decoder"]: row for row in data["comparison"]["rows"]}
    search, filtered, greedy = rows["search"], rows["sample-filter"], rows["greedy"]
    pair = data["pairs"]["search vs sample-filter"]
    return (
        f"0.5B, 16 programs, MBPP development set: pass@1 {_pct(search['passed'], search['answers'])}, {_x(search['pass_ratio'])} greedy's "
        f"{greedy['passed']}; sample-and-filter {filtered['passed']} ({_x(filtered['pass_ratio'])}); tasks only the search / only "
        f"sample-and-filter passed {pair['only_it']} / {pair['only_greedy']} (p = {pair['p']:.2g})"
    )


def headline() -> str:
    """One row per technique: its best committed figure and the page that explains it."""
    speed05 = load("speed-amx-xeon-0.5b-quantized.json")
    speed15 = load("speed-amx-xeon-1.5b-draft-0.5b-quantized.json")
    fidelity = load("eval-greedy-0.5b-quantized-vs-dense-amx-xeon.json")
    search, greedy = load("eval-search16-sampled-1.5b-avx2-epyc.json"), load("eval-greedy-1.5b-avx2-epyc.json")
    monitors = load(MGD)
    mgd = mgd_summary(monitors)
    adaptive = load(DECODER_SETS)
    methods = load(METHOD_SETS)
    sandbox = load(SANDBOX)
    bare, box = sandbox.data["timings"][0], next(t for t in sandbox.data["timings"] if "bubblewrap" in t["method"])
    two_sets = adaptive.data["sets"]

    def ratios(r: Result, pick: Callable[[dict[str, dict]], dict]) -> str:
        return " / ".join(_x(pick(_methods(r, w))["ratio_to_peer"]) for w in _workloads(r))

    def default(m: dict[str, dict]) -> dict:
        return _default(m)

    def plain(m: dict[str, dict]) -> dict:
        return m[speed_summary.OURS_PLAIN]

    workloads = " / ".join(_workloads(speed05))
    dense, quantized = fidelity.data["runs"]["dense"], fidelity.data["runs"]["quantized"]
    d = search.data
    rows = [
        [
            "[Lossless speculation](docs/speculation.md)",
            f"0.5B, default drafter: {ratios(speed05, default)} llama.cpp greedy's tok/s ({workloads}); "
            f"1.5B with the 0.5B draft model: {ratios(speed15, default)}; every prompt gives the tokens of decoding without it",
            speed05.kind,
        ],
        [
            "[Quantized weights](docs/quantization.md)",
            f"0.5B without speculation: {ratios(speed05, plain)} llama.cpp greedy on the same GGUF; "
            f"HumanEval greedy {quantized['passed']}/164 quantized against {dense['passed']}/164 dense",
            speed05.kind,
        ],
        [
            "[Test-guided search](docs/search.md)",
            f"1.5B, 16 programs: HumanEval pass@1 {_pct(d['passed'], d['n_tasks'])}, {d['passed'] / greedy.data['passed']:.2f}x greedy's {greedy.data['passed']}",
            search.kind,
        ],
        [
            "[Test-guided search](docs/search.md#results-on-the-mbpp-development-set), a second set",
            _search_on_dev(methods.data["sets"]["mbpp-dev"]),
            methods.kind,
        ],
        [
            "[Monitor-guided decoding](docs/monitors.md)",
            f"0.5B on 60 places after `obj.` in rich, cattrs and click: the right next member {mgd[('0.5B', True)][0]:.0f}/60 with monitors "
            f"against {mgd[('0.5B', False)][0]:.0f}/60 without (1.5B without: {mgd[('1.5B', False)][0]:.0f}/60); member accesses that exist "
            f"{100 * mgd[('0.5B', True)][1]:.0f}% against {100 * mgd[('0.5B', False)][1]:.0f}% (tree average)",
            monitors.kind,
        ],
        [
            "[AdaDec and USCD](docs/adaptive.md)",
            "0.5B, pass@1 against greedy's: "
            + "; ".join(_against_greedy(name, data, ("adadec", "uscd")) for name, data in two_sets.items())
            + _below_greedy(two_sets, ("adadec", "uscd")),
            adaptive.kind,
        ],
        [
            "[Sandbox](docs/sandbox.md)",
            f"a run with bubblewrap: {box['median_ms']:.0f} ms median, +{box['median_ms'] - bare['median_ms']:.0f} ms over a bare interpreter start; "
            f"{sandbox.data['throughput']:.0f} runs a second on {sandbox.data['workers']} workers",
            sandbox.kind,
        ],
    ]
    typing = [load(path.name) for path in sorted(RESULTS.glob("lsp-*.json"))]
    if typing:
        shares = " / ".join(f"{r.data['pauses']['shown_share']:.0%}" for r in typing)
        medians = " / ".join(f"{r.data['pauses']['shown_ms']['p50']:.0f}" for r in typing)
        rows.append(
            [
                "[Ghost text while typing](docs/editors.md#ghost-text-while-you-type-guidecode-bench-lsp)",
                f"0.5B, typing {len(typing)} files at 8 characters/s: ghost text before the pause ended in {shares} of pauses, {medians} ms after the pause began (median)",
                typing[0].kind,
            ]
        )
    repo = [load(path.name) for path in sorted(RESULTS.glob("repo-*.json"))]
    # The headline: the default setting's runs (the context when unsure), the others on the page.
    cross = [r for r in repo if _repo_lines(r) == "cross-file" and _context_when(r.data["setup"]) == "unsure"]
    if cross:
        pooled = "; ".join(f"{model}: {line}" for model, line in repo_pooled(cross).items())
        trees = len({r.data["setup"]["source"]["name"] for r in cross})
        rows.append(["[Repository context](docs/context.md)", f"next lines that use another file's symbol, {trees} trees; {pooled}", cross[0].kind])
    sources = ", ".join(f"`{r.file}` ({r.kind})" for r in (speed05, speed15, fidelity, search, greedy, monitors, adaptive, sandbox, *typing, *repo))
    note = f"From `benchmarks/results/`: {sources}; each page's tables give how every file was obtained."
    return "\n\n".join([table(["technique", "best measured figure", "machine kind"], rows, right=3), note])


# --------------------------------------------------------------------------- docs/benchmarks.md, docs/configuration.md


def results_index() -> str:
    """Every committed result file, its machine kind and the blocks made from it."""
    global _read
    used: dict[str, list[str]] = {}
    for name, render in BLOCKS.items():
        if name == "results-index":
            continue
        _read = []
        try:
            render()
        finally:
            files, _read = _read, None
        for file in dict.fromkeys(files):
            used.setdefault(file, []).append(name)
    rows = []
    for path in sorted(RESULTS.glob("*.json")):
        r = load(path.name)
        command = re.search(r"`([^`]*)`|(guidecode \w+(?: \w+)?)", r.how)
        first = next((g for g in command.groups() if g), "") if command else ""
        rows.append(
            [f"`{path.name}`", f"`{' '.join(first.split()[:3])}`" if first else "–", r.kind, ", ".join(f"`{b}`" for b in used.get(path.name, [])) or "–"]
        )
    return table(["file", "benchmark", "machine kind", "generated blocks made from it"], rows, right=9)


def options() -> str:
    """Every option, from its single declaration (assistant/options.py)."""
    from assistant.options_files import markdown_table

    return markdown_table()


# --------------------------------------------------------------------------- docs/monitors.md


def _mgd_rows(result: Result) -> list[list[str]]:
    rows = []
    for tree in result.data["trees"]:
        name = tree["repo"].split(" ")[0]
        for r in tree["results"]:
            model = "0.5B" if "0.5B" in r["model"] else "1.5B"
            rows.append(
                [
                    name,
                    model,
                    "on" if r["monitors"] else "off",
                    f"{100 * r['next_identifier_match']:.0f}%",
                    f"{100 * r['identifier_sequence_match']:.0f}%",
                    f"{100 * r['existing_member_accesses']:.1f}%",
                    str(r["tasks"]),
                ]
            )
    return rows


def mgd_table(file: str) -> str:
    """`guidecode bench mgd`: completions right after `obj.` with and without monitors, per tree and model."""
    result = load(file)
    header = ["tree", "model", "monitors", "next identifier", "identifier sequence", "member accesses that exist", "tasks"]
    timing = "Its times are not shown: " + result.data["timing_note"] + "."
    return "\n\n".join([table(header, _mgd_rows(result), right=3), caption(result), timing])


def mgd_languages_table(file: str) -> str:
    """`guidecode bench mgd` on TypeScript, C and Go trees: the scores, the decoding speed with and
    without monitors, and their ratio (measured on an otherwise idle machine)."""
    result = load(file)
    rows = []
    for tree in result.data["trees"]:
        off = {("0.5B" if "0.5B" in r["model"] else "1.5B"): r for r in tree["results"] if not r["monitors"]}
        for r in tree["results"]:
            model = "0.5B" if "0.5B" in r["model"] else "1.5B"
            existing = r["existing_member_accesses"]
            ratio = r["tokens_per_second"] / off[model]["tokens_per_second"] if r["monitors"] else None
            rows.append(
                [
                    f"{tree['source'].split(' ')[0]} ({_LANGUAGE_NAMES.get(tree['setup']['language'], tree['setup']['language'])})",
                    model,
                    "on" if r["monitors"] else "off",
                    f"{100 * r['next_identifier_match']:.0f}%",
                    "–" if existing is None else f"{100 * existing:.1f}%",
                    f"{r['seconds_per_completion_p50']:.2f} s",
                    f"{r['tokens_per_second']:.1f}",
                    "" if ratio is None else _x(ratio),
                    str(r["tasks"]),
                ]
            )
    header = ["tree", "model", "monitors", "next identifier", "member accesses that exist", "time per completion (median)", "tokens/s", "speed vs off", "tasks"]
    return "\n\n".join([table(header, rows, right=3), caption(result)])


def mgd_summary(result: Result) -> dict[tuple[str, bool], tuple[float, float]]:
    """(model, monitors) -> (next-identifier matches, share of existing member accesses), over all trees."""
    totals: dict[tuple[str, bool], list[float]] = {}
    for tree in result.data["trees"]:
        for r in tree["results"]:
            key = ("0.5B" if "0.5B" in r["model"] else "1.5B", r["monitors"])
            t = totals.setdefault(key, [0, 0, 0])
            t[0] += r["next_identifier_match"] * r["tasks"]
            t[1] += r["existing_member_accesses"]
            t[2] += 1
    return {key: (t[0], t[1] / t[2]) for key, t in totals.items()}


# --------------------------------------------------------------------------- docs/editors.md

_LANGUAGE_NAMES = {
    "typescript": "TypeScript",
    "typescriptreact": "TSX",
    "javascript": "JavaScript",
    "go": "Go",
    "rust": "Rust",
    "java": "Java",
    "c": "C",
    "cpp": "C++",
}


def scope_table(file: str) -> str:
    """`guidecode bench scope`: block completions in place of real bodies, and line completions
    before text they must not repeat, per language."""
    result = load(file)
    rows = []
    for language, s in result.data["summary"].items():
        blocks, lines = s["block_tasks"], s["line_tasks"]
        empty = sum(c["language"] == language and c["kind"] == "block" and not c["completion"].strip() for c in result.data["cases"])
        rows.append(
            [
                _LANGUAGE_NAMES.get(language, language),
                str(blocks),
                _pct(round(s["block_parses"] * blocks), blocks),
                str(empty),
                _pct(round(s["stopped_at_block_end"] * blocks), blocks),
                f"{s['block_lines_mean']:.1f}",
                str(lines),
                _pct(round(s["line_repeats"] * lines), lines),
                f"{s['seconds_per_completion_p50']:.2f} s",
            ]
        )
    header = [
        "language",
        "blocks",
        "file parses after",
        "of those, left empty",
        "stopped at the block's end",
        "lines a block",
        "lines",
        "repeat what follows",
        "median time",
    ]
    sources = ", ".join(f"{x['package']} {x['version']} ({x['client']})" for x in result.data["sources"])
    return "\n\n".join([table(header, rows), f"Sources: {sources}.", caption(result)])


# --------------------------------------------------------------------------- docs/adaptive.md


def decoders_table(file: str) -> str:
    """`guidecode compare` of HumanEval runs by decoder: pass@1, its ratio to greedy's, the answers
    that differ from greedy's, tokens written, the share of steps that paused."""
    result = load(file)
    rows = []
    for row in result.data["comparison"]["rows"]:
        paused = "" if row["paused_share"] is None else f"{100 * row['paused_share']:.1f}%"
        rows.append([row["decoder"], _pct(row["passed"], row["answers"]), _x(row["pass_ratio"]), str(row["differ"]), f"{row['tokens']:,}", paused])
    header = ["decoder", "pass@1", "vs greedy", "answers unlike greedy's", "tokens", "steps that paused"]
    return "\n\n".join([table(header, rows), caption(result), "Its times are not shown: " + result.data["timing_note"] + "."])


def decoder_sets_table(file: str) -> str:
    """`python -m benchmarks.decoder_sets`: each decoder against greedy on each dataset, with the
    tasks only one of the two passed and a two-sided sign test on them."""
    result = load(file)
    sets = result.data["sets"]
    decoders = list(dict.fromkeys(row["decoder"] for data in sets.values() for row in data["comparison"]["rows"]))
    header = ["decoder"] + [f"{name}: {cell}" for name in sets for cell in ("pass@1", "vs greedy", "only it / only greedy (p)", "steps paused")]
    rows = []
    for decoder in decoders:
        cells = [decoder]
        for data in sets.values():
            row = next((r for r in data["comparison"]["rows"] if r["decoder"] == decoder), None)
            test = data["sign_tests"].get(decoder)
            if row is None:
                cells += ["–"] * 4
                continue
            paused = "" if row["paused_share"] is None else f"{100 * row['paused_share']:.1f}%"
            versus = f"{test['only_it']} / {test['only_greedy']} (p = {test['p']:.2g})" if test else "–"
            cells += [_pct(row["passed"], row["answers"]), _x(row["pass_ratio"]), versus, paused]
        rows.append(cells)
    pairs = sorted({pair for data in sets.values() for pair in data.get("pairs", {})})
    lines = [
        f"{pair}, tasks only the first / only the second passed: "
        + "; ".join(f"{name} {t['only_it']} / {t['only_greedy']} (p = {t['p']:.2g})" for name, data in sets.items() if (t := data.get("pairs", {}).get(pair)))
        for pair in pairs
    ]
    return "\n\n".join([table(header, rows), *lines, caption(result)])


def adadec_pauses(*files: str) -> str:
    """`python -m benchmarks.adadec_pauses`: where AdaDec's switches from greedy's choice happen,
    and what they choose on the tasks whose outcome they change, per dataset."""
    results = [load(f) for f in files]
    lines, rows = [], []
    for r in results:
        s, name = r.data["summary"], r.data["dataset_name"]
        lines.append(
            f"{name}: {s['pauses']} pauses on {s['tasks']} tasks, {s['switches']} of them switching from greedy's choice; "
            f"{s['tasks_switching']} tasks switch, {s['tasks_first_switching_at_first_token']} of them first at the answer's first token; "
            f"{s['gained']} tasks gained and {s['lost']} lost against greedy."
        )
        rows += [[name, f["outcome"], f["where"], f"`{f['greedy -> adadec']}`", str(f["tasks"])] for f in s["flips_by_first_switch"]]
    header = ["dataset", "outcome against greedy", "first switch at", "first word: greedy's -> AdaDec's", "tasks"]
    return "\n\n".join([" ".join(lines), table(header, rows), caption(*results)])


def first_token_rules(file: str) -> str:
    """`python -m benchmarks.first_token`: rules that pick the answer's first token among the
    model's top candidates, each against greedy (tasks passed, gained / lost, sign test)."""
    result = load(file)
    d = result.data
    guards = [g for g in d["rules"][0] if g != "rule"]
    rows = [[r["rule"]] + [f"{r[g]['passed']} (+{r[g]['gained']} / -{r[g]['lost']}, p = {r[g]['p']:.2g})" for g in guards] for r in d["rules"]]
    oracle = ", ".join(f"{n} with any of the first {k}" for k, n in d["oracle"].items())
    line = f"{d['dataset_name']}: greedy passes {d['greedy']} of {d['tasks']} tasks; an oracle picking a passing answer would pass {oracle}."
    return "\n\n".join([line, table(["rule (the first token's answer it picks)", *guards], rows), caption(result)])


def answer_starts(file: str) -> str:
    """`python -m benchmarks.answer_starts`: how each decoder's answers begin, over all tasks and
    over those it lost against greedy."""
    result = load(file)
    words = lambda counts: ", ".join(f"`{w}` {n}" for w, n in counts.items()) or "–"  # noqa: E731
    rows = [
        [d, str(r["lost"]), str(r["lost_at_token_limit"]), words(r["first_words"]), words(r["first_words_of_losses"])] for d, r in result.data["runs"].items()
    ]
    header = ["decoder", "tasks lost against greedy", "of them at the token limit", "answers' first words", "first words of the lost tasks' answers"]
    return "\n\n".join([f"{result.data['dataset_name']}, {next(iter(result.data['runs'].values()))['tasks']} tasks:", table(header, rows), caption(result)])


def threshold_fit(file: str) -> str:
    """`python -m benchmarks.threshold_fit`: how the threshold learned from package code splits
    each evaluation set's reference answers, and the threshold each set would learn itself."""
    result = load(file)
    package, learned = result.data["package_code"], result.data["package_code"]["threshold"]
    share = lambda v: "–" if v is None else f"{100 * v:.0f}%"  # noqa: E731

    def row(name: str, positions: int, fit: dict, fitted: float, at: dict, first: dict | None) -> list[str]:
        cells = [name, f"{positions:,}", share(fit["error_rate"]), f"{fitted:.2f} ({fit['method']})", f"{fit['auroc']:.2f}"]
        cells += [share(at["share_above"]), share(at["wrong_above"]), share(at["wrong_below"])]
        return cells + ([share(first["share_above"]), share(first["wrong_above"]), share(first["wrong_below"])] if first else ["–"] * 3)

    fit = package["fit"]
    at_package = {"share_above": fit["share_above"], "wrong_above": fit["error_above"], "wrong_below": fit["error_below"]}
    rows = [row("package code (where it was learned)", package["positions"], fit, learned, at_package, None)]
    for name, data in result.data["sets"].items():
        rows.append(
            row(f"{name}: reference answers", data["at_learned"]["positions"], data["fit"], data["fitted"], data["at_learned"], data["first_token_at_learned"])
        )
    header = [
        "positions of", "positions", "first choice not the reference's", "threshold learned there (nats)", "AUROC of entropy",
        f"above {learned:.2f} nats", "not the reference's, above", "below", "first answer token: above", "not the reference's, above", "below",
    ]  # fmt: skip
    return "\n\n".join([table(header, rows), caption(result)])


def _against_greedy(name: str, data: dict, decoders: tuple[str, ...]) -> str:
    rows = {row["decoder"]: row for row in data["comparison"]["rows"]}
    base = rows["greedy"]
    shown = [
        f"{d} {_pct(rows[d]['passed'], rows[d]['answers'])} ({_x(rows[d]['pass_ratio'])}, p = {data['sign_tests'][d]['p']:.2g})" for d in decoders if d in rows
    ]
    return f"{name}: greedy {_pct(base['passed'], base['answers'])}, " + ", ".join(shown)


def _below_greedy(sets: dict[str, dict], decoders: tuple[str, ...]) -> str:
    """Which decoders a set finds below greedy: they are not offered as improvements."""
    below = [
        d
        for d in decoders
        if any(r["decoder"] == d and r["passed"] < data["comparison"]["rows"][0]["passed"] for data in sets.values() for r in data["comparison"]["rows"])
    ]
    return f". Not offered as improvements: {', '.join(below)} (below greedy on a set)" if below else ""


def decoder_rows(file: str) -> dict[str, dict]:
    return {row["decoder"]: row for row in load(file).data["comparison"]["rows"]}


# --------------------------------------------------------------------------- docs/sandbox.md


def sandbox_overhead(file: str) -> str:
    """`guidecode bench sandbox`: a run's wall time by isolation, against a bare interpreter start."""
    result = load(file)
    timings = result.data["timings"]
    bare = timings[0]["median_ms"]
    rows = [
        [t["method"], f"{t['median_ms']:.1f} ms", f"{t['p95_ms']:.1f} ms", "" if i == 0 else f"+{t['median_ms'] - bare:.1f} ms", _x(t["median_ms"] / bare)]
        for i, t in enumerate(timings)
    ]
    throughput = f"Throughput: {result.data['throughput']:.0f} runs a second with {result.data['workers']} workers ({result.data['throughput_mode']})."
    return "\n\n".join([table(["method", "median", "p95", "over a bare start", "ratio"], rows), throughput, caption(result)])


# --------------------------------------------------------------------------- docs/context.md


def repo_context() -> str:
    """`guidecode bench repo`: next-line completion with and without repository context, a row per
    setting of every committed `repo-*.json` (one tree, model and kind of lines each), cross-file runs first."""
    results = sorted((load(path.name) for path in sorted(RESULTS.glob("repo-*.json"))), key=lambda r: REPO_LINES.index(_repo_lines(r)))
    if not results:
        return "No run is committed yet: `guidecode bench repo --source NAME` writes `benchmarks/results/repo-<machine>-<model>-<source>.json`."
    rows = []
    for r in results:
        s = r.data["setup"]
        for arm in r.data["results"]:
            gain = r.data["exact_match_gain"]
            rows.append(
                [
                    s["source"]["description"],
                    _repo_lines(r),
                    _short_model(s),
                    f"{arm['context_tokens_setting']} tokens, {_context_when(s)}" if arm["context_tokens_setting"] else "off",
                    _pct(round(arm["exact_match"] * arm["tasks"]), arm["tasks"]),
                    "" if not arm["context_tokens_setting"] else "–" if gain is None else f"{gain:+.0%}",
                    f"{arm['edit_similarity']:.3f}",
                    f"{100 * arm['identifier_match']:.0f}%",
                    f"{arm['seconds_per_completion_p50']:.2f} s",
                    f"{arm['prompt_tokens_mean']:.0f}",
                    f"{arm['context_tokens_mean']:.0f}",
                    f"{arm['context_retried']:.0%}" if "context_retried" in arm and arm["context_tokens_setting"] else "",
                ]
            )
    header = [
        "tree",
        "lines",
        "model",
        "context",
        "exact match",
        "gain",
        "edit similarity",
        "symbol written",
        "time (median)",
        "prompt tokens",
        "context tokens",
        "written again",
    ]
    kinds = sorted({_repo_lines(r) for r in results}, key=REPO_LINES.index)
    pooled = [f"All trees, {model}, {kind} lines: {line}." for kind in kinds for model, line in repo_pooled(results, kind).items()]
    split = [f"All trees, {model}, cross-file lines, {line}." for model, line in repo_split(results).items()]
    when = (
        "Context: *always* in every prompt; *unsure*, only where the completion written without it was unsure of its first line, "
        "then written again with it (*written again*: how often)."
    )
    return "\n\n".join([table(header, rows, right=4), "\n".join([when, *pooled, *split]), caption(*results)])


REPO_LINES = ("cross-file", "in-file")  # as benchmarks/repo_lines.LINE_KINDS; this module reads result files only


def _repo_lines(r: Result) -> str:
    """Which lines a `repo-*.json` run's tasks are; files from before the kind was recorded are cross-file."""
    kind = r.data["setup"].get("lines", "cross-file")
    if kind not in REPO_LINES:
        raise ReportError(f"benchmarks/results/{r.file}: unknown lines kind {kind!r}")
    return kind


def _context_when(setup: dict) -> str:
    """When a run's 'with context' setting used it (as benchmarks/repo_bench.context_when): files
    from before the setting existed put it in every prompt."""
    return setup.get("context_when", "always")


def _repo_arm(setup: dict) -> str:
    """A pooled line's model and context setting: runs of one model pool only with the same setting."""
    return f"{_short_model(setup)} (context {_context_when(setup)})"


def repo_pooled(results: list[Result], lines: str = "cross-file") -> dict[str, str]:
    """Per model and context setting, the exact matches over every committed tree, with context and
    without, of the runs whose tasks are `lines` (cross-file or in-file) only, with the tasks only
    one of the two got right and a sign test on them."""
    totals: dict[str, list[int]] = {}
    for r in results:
        if _repo_lines(r) != lines:
            continue
        counts = totals.setdefault(_repo_arm(r.data["setup"]), [0, 0, 0, 0, 0])
        for task in r.data["tasks"]:
            with_context, without = task["with_context"]["exact"], task["without_context"]["exact"]
            counts[0] += with_context
            counts[1] += without
            counts[2] += 1
            counts[3] += with_context and not without
            counts[4] += without and not with_context

    def said(w: int, o: int, n: int, only_with: int, only_without: int) -> str:
        gain = f"{w / o - 1:+.0%}; " if o else ""
        return (
            f"exact match {_pct(w, n)} with repository context against {_pct(o, n)} without ({gain}right only with it "
            f"{only_with}, only without it {only_without}, two-sided sign test p = {sign_test(only_with, only_without):.2f})"
        )

    return {model: said(*counts) for model, counts in totals.items()}


def repo_split(results: list[Result]) -> dict[str, str]:
    """Per model, the cross-file tasks split by whether the context held the line's symbol: the
    exact matches with context and without in each part."""
    parts: dict[str, dict[bool, list[int]]] = {}
    for r in results:
        if _repo_lines(r) != "cross-file":
            continue
        model = _repo_arm(r.data["setup"])
        for task in r.data["tasks"]:
            counts = parts.setdefault(model, {True: [0, 0, 0], False: [0, 0, 0]})[bool(task.get("symbol_in_context"))]
            counts[0] += task["with_context"]["exact"]
            counts[1] += task["without_context"]["exact"]
            counts[2] += 1

    def said(where: str, counts: list[int]) -> str:
        with_context, without, n = counts
        return f"{where}: exact match {_pct(with_context, n)} with context against {_pct(without, n)} without"

    held = "where the context held the line's symbol"
    return {model: said(held, split[True]) + "; " + said("where it did not", split[False]) for model, split in parts.items()}


def ray_eval(file: str) -> str:
    """`python -m benchmarks.ray_eval`: one eval plainly and on Ray with one and two workers."""
    r = load(file)
    runs = r.data["runs"]
    one = next(run["wall_s"] for run in runs if run["run"] == "ray, 1 worker x 1 thread")
    rows = [
        [
            run["run"],
            str(run["threads_per_process"]),
            f"{run['wall_s']:.0f} s",
            f"{run['wall_s'] / one:.2f}x",
            f"{100 * run['pass@1']:.1f}%",
            ", ".join(run["records_equal_to"]) or "–",
        ]
        for run in runs
    ]
    overhead = (
        f"Ray's overhead per task (the canonical decoder, no model, through one worker against plainly): "
        f"{1000 * r.data['ray_overhead_per_task_s']:.0f} ms ({r.data['canonical_wall_s']['ray, 1 worker']:.1f} s against "
        f"{r.data['canonical_wall_s']['plain']:.1f} s for {runs[0]['tasks']} tasks, Ray's start included)."
    )
    header = ["run", "threads per process", "wall time", "over 1 worker x 1 thread", "pass@1", "records equal to those of"]
    return "\n\n".join([table(header, rows), overhead, caption(r)])


RAY_EVAL = "ray-eval-amx-xeon-0.5b-humaneval.json"


def prefill_threads(file: str) -> str:
    """`python -m benchmarks.prefill_threads`: prompts prefilled with one thread and with two."""
    r = load(file)
    rows = r.data["routes"]
    library = next(row for row in rows if row["route"] == "PyTorch's GEMM")
    body = [
        [
            row["route"],
            f"{row['ms_1_thread']:.0f} ms",
            f"{row['ms_2_threads']:.0f} ms",
            f"{row['ms_2_threads'] / library['ms_2_threads']:.2f}x",
            f"{row['prompts_differing']} of {r.data['prompts']}",
        ]
        for row in rows
    ]
    header = ["prompt-size products", "1 thread", "2 threads", "2 threads, over PyTorch's GEMM", "prompts whose bits differ between 1 and 2 threads"]
    return "\n\n".join([table(header, body), caption(r)])


# --------------------------------------------------------------------------- the registry


MGD = "mgd-amx-xeon-rich-cattrs-click.json"
SCOPE = "scope-amx-xeon-0.5b.json"
MGD_LANGUAGES = "mgd-amx-xeon-rxjs-brotli-pflag.json"
DECODERS = "eval-decoders-0.5b-amx-xeon.json"
DECODER_SETS = "eval-decoders-0.5b-humaneval-mbpp-dev-amx-xeon.json"
METHOD_SETS = "eval-methods-0.5b-humaneval-mbpp-dev-amx-xeon.json"
SANDBOX = "sandbox-amx-xeon.json"


def _one(render: Callable[..., str], *files: str) -> Callable[[], str]:
    return lambda: render(*files)


BLOCKS: dict[str, Callable[[], str]] = {
    "headline": headline,
    "speed-0.5b": _one(speed_table, "speed-amx-xeon-0.5b-quantized.json"),
    "speed-1.5b-draft-0.5b": _one(speed_table, "speed-amx-xeon-1.5b-draft-0.5b-quantized.json"),
    "speed-phases": _one(speed_phases, "speed-amx-xeon-0.5b-quantized.json", "speed-amx-xeon-1.5b-draft-0.5b-quantized.json"),
    "drafter-choice": drafter_choice,
    "passes-amx-xeon": _one(passes_table, "passes-amx-xeon-0.5b.json"),
    "passes-avx2-epyc": _one(passes_table, "passes-avx2-epyc-0.5b.json"),
    "quantized-fidelity": quantized_fidelity,
    "serve-memory": serve_memory,
    "lsp-typing": lsp_typing,
    "search-humaneval": search_humaneval,
    "search-vs-sample-filter": search_vs_sample_filter,
    "humaneval-greedy": humaneval_greedy,
    "results-index": results_index,
    "options": options,
    "mgd": _one(mgd_table, MGD),
    "scope": _one(scope_table, SCOPE),
    "mgd-languages": _one(mgd_languages_table, MGD_LANGUAGES),
    "decoders-humaneval": _one(decoders_table, DECODERS),
    "decoders-two-sets": _one(decoder_sets_table, DECODER_SETS),
    "methods-two-sets": _one(decoder_sets_table, METHOD_SETS),
    "methods-two-sets-1.5b": _one(decoder_sets_table, "eval-methods-1.5b-humaneval-mbpp-dev-amx-xeon.json"),
    "adadec-pauses": _one(adadec_pauses, "adadec-pauses-0.5b-humaneval-amx-xeon.json", "adadec-pauses-0.5b-mbpp-dev-amx-xeon.json"),
    "first-token-rules": _one(first_token_rules, "first-token-0.5b-mbpp-dev-amx-xeon.json"),
    "answer-starts": _one(answer_starts, "answer-starts-0.5b-mbpp-dev-amx-xeon.json"),
    "threshold-fit": _one(threshold_fit, "threshold-fit-0.5b-humaneval-mbpp-dev-amx-xeon.json"),
    "adadec-reference-threshold": _one(decoder_sets_table, "eval-adadec-threshold-0.5b-humaneval-mbpp-dev-amx-xeon.json"),
    "sandbox-overhead": _one(sandbox_overhead, SANDBOX),
    "repo-context": repo_context,
    "ray-eval": _one(ray_eval, RAY_EVAL),
    "prefill-threads": _one(prefill_threads, "prefill-threads-amx-xeon-0.5b.json"),
}


# --------------------------------------------------------------------------- pages


def pages(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def render(name: str) -> str:
    if name not in BLOCKS:
        raise ReportError(f"unknown block {name!r} (known: {', '.join(BLOCKS)})")
    return BLOCKS[name]().strip() + "\n"


def rewrite(text: str, where: str = "page") -> tuple[str, list[str]]:
    """The text with every block rendered anew, and the problems found (unknown names, unreadable
    files, markers that do not pair up)."""
    problems = []
    opened = [m.group(2) for m in MARKER.finditer(text) if not m.group(1)]
    paired = [m.group("name") for m in BLOCK.finditer(text)]
    if sorted(opened) != sorted(paired) or len(MARKER.findall(text)) != 2 * len(paired):
        problems.append(
            f"{where}: generated-block markers that do not pair up (opened: {', '.join(opened) or 'none'}; closed in pairs: {', '.join(paired) or 'none'})"
        )

    def block(m: re.Match) -> str:
        name = m.group("name")
        try:
            body = render(name)
        except ReportError as e:
            problems.append(f"{where}: block {name}: {e}")
            return m.group(0)
        return f"<!-- generated: {name} -->\n{body}<!-- end generated: {name} -->"

    return BLOCK.sub(block, text), problems


def check(root: Path = ROOT) -> list[str]:
    """Problems of every page: stale blocks (the command would change them), unknown blocks, unreadable files."""
    problems = []
    for page in pages(root):
        where = str(page.relative_to(root))
        text = page.read_text(encoding="utf-8")
        new, found = rewrite(text, where)
        problems += found
        if new != text:
            stale = [m.group("name") for m, n in zip(BLOCK.finditer(text), BLOCK.finditer(new)) if m.group(0) != n.group(0)]
            problems.append(f"{where}: stale block(s) {', '.join(stale)}: run python -m benchmarks.report")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 listing stale and unknown blocks")
    args = parser.parse_args(argv)
    if args.check:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    failed = False
    for page in pages():
        text = page.read_text(encoding="utf-8")
        new, problems = rewrite(text, str(page.relative_to(ROOT)))
        for p in problems:
            print(p, file=sys.stderr)
        failed |= bool(problems)
        if new != text:
            page.write_text(new, encoding="utf-8")
            print(f"rewrote {page.relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
