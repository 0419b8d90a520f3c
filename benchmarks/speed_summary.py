"""The speed benchmark's bookkeeping: per-method medians, speed ratios, token agreement and the table.

Agreement is counted against two references, kept apart because they answer different questions:
- "= ours plain" against "ours, no speculation": for our methods this is the lossless claim
  (speculation must not change a token), so anything short of every prompt is a bug;
- "= transformers greedy" against stock transformers on an untouched model: fidelity, how far our
  numerics (and llama.cpp's) land from the library users compare with. Reported as it is.
Where tokens differ, the index of the first differing token says how early the paths part.

For the plain methods (one forward pass per token), the bytes of weights a pass reads times the
decoding speed gives the rate the method reads weights at, and its share of the measured read
bandwidth says how close decoding comes to what memory allows (weight_bytes.py).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field, replace
from typing import Literal

BASELINE = "transformers greedy"
OURS_PLAIN = "ours, no speculation"
PEER_BASELINE = "llama.cpp greedy"
# One forward pass per token, so tokens per second are passes per second: bytes per token hold.
PLAIN = (BASELINE, OURS_PLAIN, PEER_BASELINE)

Family = Literal["ours", "transformers", "llama.cpp"]


@dataclass(frozen=True)
class Decoded:
    """What one decoding call gave: the answer tokens (EOS dropped) and its wall-clock time."""

    tokens: list[int]
    seconds: float  # prompt processing included
    forward_passes: int | None = None  # ours only
    accepted: int | None = None  # drafted tokens kept, ours only
    prompt_seconds: float | None = None  # until the first token, where measured (llama.cpp, ours)


@dataclass(frozen=True)
class Run:
    method: str
    prompt: str
    decoded: Decoded
    prompt_tokens: int = 0

    @property
    def tokens(self) -> list[int]:
        return self.decoded.tokens

    @property
    def tokens_per_second(self) -> float:
        return _rate(len(self.tokens), self.decoded.seconds)

    @property
    def phase_rates(self) -> tuple[float, float] | None:
        """(prompt tok/s, decode tok/s) where the time to the first token was measured; decode
        counts the tokens after the first over the time after it."""
        d = self.decoded
        if d.prompt_seconds is None:
            return None
        return _rate(self.prompt_tokens, d.prompt_seconds), _rate(len(d.tokens) - 1, d.seconds - d.prompt_seconds)


def _rate(count: int, seconds: float) -> float:
    return max(count, 0) / seconds if seconds > 0 else 0.0


@dataclass
class Agreement:
    """On how many prompts a method's tokens equal a reference's."""

    equal: int
    prompts: int
    first_differences: dict[str, int] = field(default_factory=dict)  # prompt id -> index of the first differing token

    @property
    def complete(self) -> bool:
        return self.equal == self.prompts

    def cell(self) -> str:
        where = sorted(self.first_differences.values())
        return f"{self.equal}/{self.prompts}" + (f" (≠ at {', '.join(map(str, where))})" if where else "")


@dataclass
class MethodSummary:
    method: str
    family: Family
    prompts: int
    tokens_per_second: float  # median over prompts
    ratio: float  # median over prompts of (this method's tok/s) / (transformers greedy's)
    ratio_to_peer: float | None  # the same against llama.cpp greedy; None when it did not run
    accepted_per_pass: float | None
    same_as_ours_plain: Agreement  # lossless, for our methods
    same_as_transformers: Agreement  # fidelity
    prompt_tokens_per_second: float | None = None  # medians, where the phases were timed apart
    decode_tokens_per_second: float | None = None
    weight_bytes_per_token: int | None = None  # weights one pass reads; plain methods only
    decode_gb_per_s: float | None = None  # weight_bytes_per_token x decode tok/s / 1e9
    bandwidth_share: float | None = None  # decode_gb_per_s over the machine's measured read bandwidth
    same_as_llama_cpp: Agreement | None = None  # fidelity against llama.cpp greedy on the same GGUF, where it ran


def first_difference(a: list[int], b: list[int]) -> int | None:
    """Index of the first token where `a` and `b` differ (a length difference counts); None if equal."""
    if a == b:
        return None
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))


def agreement(mine: list[Run], reference: dict[str, Run]) -> Agreement:
    differences = {r.prompt: i for r in mine if (i := first_difference(r.tokens, reference[r.prompt].tokens)) is not None}
    return Agreement(len(mine) - len(differences), len(mine), differences)


def median_ratio(mine: list[Run], reference: dict[str, Run]) -> float | None:
    if not reference:
        return None
    ratios = [r.tokens_per_second / reference[r.prompt].tokens_per_second for r in mine if reference[r.prompt].tokens_per_second > 0]
    return statistics.median(ratios) if ratios else 0.0


def summarize(
    runs: list[Run], families: dict[str, Family], weight_bytes: dict[str, int | None] | None = None, bandwidth: float | None = None
) -> list[MethodSummary]:
    """One summary per method, in the order of `families` (method name -> who implements it).
    weight_bytes: bytes of weights per forward pass by method name (used for PLAIN methods only);
    bandwidth: the machine's measured read bandwidth in GB/s."""
    by_prompt = {name: {r.prompt: r for r in runs if r.method == name} for name in PLAIN}
    summaries = [_summary(method, family, [r for r in runs if r.method == method], by_prompt) for method, family in families.items()]
    return [_with_bytes(s, (weight_bytes or {}).get(s.method), bandwidth) for s in summaries]


def _with_bytes(summary: MethodSummary, per_token: int | None, bandwidth: float | None) -> MethodSummary:
    if summary.method not in PLAIN or per_token is None:
        return summary  # a speculative method's tokens per second are not passes per second
    rate = summary.decode_tokens_per_second
    gb_per_s = per_token * rate / 1e9 if rate is not None else None  # None where decoding was not timed apart
    share = gb_per_s / bandwidth if gb_per_s is not None and bandwidth else None
    return replace(summary, weight_bytes_per_token=per_token, decode_gb_per_s=gb_per_s, bandwidth_share=share)


def _summary(method: str, family: Family, mine: list[Run], by_prompt: dict[str, dict[str, Run]]) -> MethodSummary:
    passes = sum(r.decoded.forward_passes or 0 for r in mine)
    accepted = sum(r.decoded.accepted or 0 for r in mine)
    phases = [p for r in mine if (p := r.phase_rates) is not None]
    return MethodSummary(
        method=method,
        family=family,
        prompts=len(mine),
        tokens_per_second=statistics.median(r.tokens_per_second for r in mine),
        ratio=median_ratio(mine, by_prompt[BASELINE]) or 0.0,
        ratio_to_peer=median_ratio(mine, by_prompt[PEER_BASELINE]),
        accepted_per_pass=accepted / passes if passes else None,
        same_as_ours_plain=agreement(mine, by_prompt[OURS_PLAIN]),
        same_as_transformers=agreement(mine, by_prompt[BASELINE]),
        prompt_tokens_per_second=statistics.median(p[0] for p in phases) if phases else None,
        decode_tokens_per_second=statistics.median(p[1] for p in phases) if phases else None,
        same_as_llama_cpp=agreement(mine, by_prompt[PEER_BASELINE]) if by_prompt[PEER_BASELINE] else None,
    )


def lossless(summaries: list[MethodSummary]) -> bool:
    """Whether every one of our methods gave our plain decoding's tokens on every prompt."""
    ours = [m for m in summaries if m.family == "ours"]
    return bool(ours) and all(m.same_as_ours_plain.complete for m in ours)


def report(result: dict):
    """The result (as `speed.benchmark` returns it) as a rich table, one section per workload."""
    from rich.table import Table
    from rich.text import Text

    # Text, not markup: paths and pip extras ('.[peers]') hold brackets.
    table = Table(title=Text(_title(result["setup"])), title_justify="left", caption=Text(_caption(result)), caption_justify="left")
    columns = _columns(result)
    for column in columns:
        table.add_column(column, justify="left" if column in ("workload", "method") else "right")
    lossless_at = columns.index("= ours plain")
    for workload in result["workloads"]:
        for row, m in zip(_rows(result, workload), workload["methods"]):
            table.add_row(*row[:lossless_at], _lossless_cell(m), *row[lossless_at + 1 :])
        table.add_section()
    return table


def markdown(result: dict) -> str:
    """The same table as Markdown, with its title and caption (the docs tables come from here)."""
    columns = _columns(result)
    lines = [_title(result["setup"]), "", "| " + " | ".join(columns) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(len(columns))) + "|"]
    for workload in result["workloads"]:
        lines += ["| " + " | ".join(row) + " |" for row in _rows(result, workload)]
    return "\n".join([*lines, "", *_caption(result).splitlines()])


def _with_peer(result: dict) -> bool:
    return any(m["ratio_to_peer"] is not None for w in result["workloads"] for m in w["methods"])


def _columns(result: dict) -> list[str]:
    peer = ["× llama.cpp greedy"] if _with_peer(result) else []
    agree_peer = ["= llama.cpp greedy"] if _with_peer_agreement(result) else []
    return ["workload", "method", "tok/s (median)", "× transformers greedy", *peer, "accepted / pass", "= ours plain", "= transformers greedy", *agree_peer]


def _with_peer_agreement(result: dict) -> bool:
    return any(m.get("same_as_llama_cpp") for w in result["workloads"] for m in w["methods"])


def _rows(result: dict, workload: dict) -> list[list[str]]:
    rows = []
    for i, m in enumerate(workload["methods"]):
        name = f"{workload['workload']} ({m['prompts']})" if i == 0 else ""
        peer = [_number(m["ratio_to_peer"])] if _with_peer(result) else []
        speed = [f"{m['tokens_per_second']:.1f}", f"{m['ratio']:.2f}", *peer, _number(m["accepted_per_pass"])]
        agree = [Agreement(**m["same_as_ours_plain"]).cell(), Agreement(**m["same_as_transformers"]).cell()]
        if _with_peer_agreement(result):
            agree.append(Agreement(**m["same_as_llama_cpp"]).cell() if m.get("same_as_llama_cpp") else "–")
        rows.append([name, m["method"], *speed, *agree])
    return rows


def _title(setup: dict) -> str:
    machine = setup["machine"]
    return (
        f"{setup['model']} ({setup['dtype']}, {setup['device']})"
        + (f", draft {setup['draft_model']}" if setup["draft_model"] else "")
        + (f"; ours on {setup['weights']}" if setup.get("weights") else "")  # results before --weights lack it
        + f"; {machine['cpu']}, {machine['cores']} cores; torch {machine['torch']}, transformers {machine['transformers']}; "
        + f"{setup['timing']}, {setup['repetitions']} repetition(s)"
    )


def _caption(result: dict) -> str:
    lines = [
        "= ours plain: prompts whose tokens equal ours without speculation: for ours rows the lossless claim (every prompt, or a bug); for the others, fidelity.",
        f"= transformers greedy: fidelity, against stock transformers greedy on {result['setup']['baselines'].removeprefix('transformers on ')}.",
        "≠ at i: index of the first differing token, per differing prompt.",
        result["setup"]["peer"],
    ]
    bandwidth = result["setup"].get("read_bandwidth_gb_per_s")
    for workload in result["workloads"]:
        for m in workload["methods"]:
            where = f"{m['method']}, {workload['workload']}"
            if m.get("prompt_tokens_per_second") is not None:
                lines.append(
                    f"{where}: prompt {m['prompt_tokens_per_second']:.1f} tok/s, "
                    f"decoding {m['decode_tokens_per_second']:.1f} tok/s (medians; decoding = tokens after the first)"
                )
            if m.get("weight_bytes_per_token") is not None:
                lines.append(f"{where}: {_bytes_line(m, bandwidth)}")
    return "\n".join(lines)


def _bytes_line(m: dict, bandwidth: float | None) -> str:
    line = f"{m['weight_bytes_per_token'] / 1e9:.2f} GB of weights per token"
    if m.get("decode_gb_per_s") is None:
        return line + " (decoding not timed apart from the prompt)"
    line += f", decoding {m['decode_tokens_per_second']:.1f} tok/s = {m['decode_gb_per_s']:.1f} GB/s"
    if m.get("bandwidth_share") is not None and bandwidth:
        line += f" ({m['bandwidth_share']:.0%} of the {bandwidth:.1f} GB/s measured read bandwidth)"
    return line


def _lossless_cell(m: dict):
    from rich.text import Text

    agreement = Agreement(**m["same_as_ours_plain"])
    broken = m["family"] == "ours" and not agreement.complete
    return Text(agreement.cell(), style="bold red" if broken else "")


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


if __name__ == "__main__":  # python -m benchmarks.speed_summary RESULT.json: the Markdown table
    import json
    import sys

    print(markdown(json.loads(open(sys.argv[1], encoding="utf-8").read())))
