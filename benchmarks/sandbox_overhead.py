"""What a sandboxed run costs on top of starting Python, side by side in one run.

Methods, each timed `repeat` times on the same trivial program and test (so the time is the
overhead, not the work): a bare `python -I -B -c pass` (the floor every method pays), the sandbox
in its weaker mode, and the sandbox with bubblewrap. Then throughput: `jobs` runs through
`Sandbox.run_many` with one worker per core. Wall times as the sandbox measures them (from the
spawn to the result).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass

from sandbox import Job, Limits, Sandbox
from sandbox.isolation import choose

PROGRAM = "def add(a, b):\n    return a + b\n"
TESTS = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


@dataclass
class Timing:
    method: str
    median_ms: float
    p95_ms: float
    runs: int


def _summary(method: str, seconds: list[float]) -> Timing:
    ordered = sorted(seconds)
    return Timing(method, 1000 * statistics.median(ordered), 1000 * ordered[int(0.95 * (len(ordered) - 1))], len(ordered))


def _bare_python(interpreter: str, repeat: int) -> Timing:
    seconds = []
    for _ in range(repeat):
        start = time.monotonic()
        subprocess.run([interpreter, "-I", "-B", "-c", "pass"], check=True)
        seconds.append(time.monotonic() - start)
    return _summary("bare python start", seconds)


def _sandboxed(isolation: str, repeat: int) -> Timing:
    sandbox = Sandbox(Limits(), isolation=isolation, workers=1)
    seconds = []
    for _ in range(repeat):
        result = sandbox.run(PROGRAM, TESTS, "add")
        assert result.passed, result
        seconds.append(result.wall_s)
    return _summary(f"sandbox ({sandbox.mode.split(':')[0]})", seconds)


def _throughput(jobs: int) -> tuple[float, str]:
    sandbox = Sandbox(Limits())
    start = time.monotonic()
    results = [r for _, r in sandbox.run_many([Job(PROGRAM, TESTS, "add")] * jobs)]
    assert all(r.passed for r in results)
    return jobs / (time.monotonic() - start), sandbox.mode


def run(repeat: int = 50, jobs: int = 100) -> dict:
    interpreter = choose("auto").interpreter
    timings = [_bare_python(interpreter, repeat), _sandboxed("none", repeat)]
    if choose("auto").bubblewrap:
        timings.append(_sandboxed("bubblewrap", repeat))
    per_second, mode = _throughput(jobs)
    return {"interpreter": interpreter, "timings": timings, "throughput": per_second, "throughput_mode": mode,
            "workers": os.cpu_count(), "jobs": jobs, "repeat": repeat}  # fmt: skip


def report(result: dict, setup: dict) -> str:
    floor = result["timings"][0].median_ms
    lines = [f"{k}: {v}" for k, v in setup.items()]
    lines += [
        f"interpreter in the sandbox: {result['interpreter']}; program: a two-line function and one check() assert",
        f"repetitions: {result['repeat']} sequential runs per method; wall time from spawn to result",
        "",
        f"{'method':<24}{'median ms':>11}{'p95 ms':>9}{'over bare':>11}{'ratio':>8}",
    ]
    for t in result["timings"]:
        lines.append(f"{t.method:<24}{t.median_ms:>11.1f}{t.p95_ms:>9.1f}{t.median_ms - floor:>+11.1f}{t.median_ms / floor:>7.2f}x")
    lines.append("")
    lines.append(f"throughput: {result['throughput']:.1f} runs/s over {result['jobs']} runs, {result['workers']} workers ({result['throughput_mode']})")
    return "\n".join(lines)
