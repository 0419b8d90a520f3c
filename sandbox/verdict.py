"""From what a run left behind (its report, its output, how it ended) to its structured result.

A pass is proven, not assumed: every planned test must have reported "passed" through the
runner's report (lines carrying the run's nonce), and the runner must have reported that the
tests finished. Exit codes and printed text never make a pass.
"""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass, field

from .collect import Collected
from .isolation import Isolation
from .limits import Limits
from .result import Outcome, RunResult, Status, TestOutcome


@dataclass
class Report:
    outcomes: dict[str, tuple[Outcome, str]] = field(default_factory=dict)
    started: bool = False  # the runner read its header and set the limits
    done: bool = False
    peak_kb: int | None = None  # the runner's largest resident set (its own or a child's)
    memory: bool = False
    load_error: str = ""
    tests_error: str = ""
    foreign_lines: int = 0  # lines that did not carry the nonce: not the runner's

    @classmethod
    def parse(cls, data: bytes, nonce: str) -> Report:
        report = cls()
        for line in data.decode("utf-8", "replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict) or record.get("nonce") != nonce:
                report.foreign_lines += 1
                continue
            report._add(record)
        return report

    def _add(self, record: dict) -> None:
        if "test" in record:
            self.outcomes.setdefault(record["test"], (Outcome(record["outcome"]), record.get("detail", "")))
        self.started |= bool(record.get("started"))
        self.done |= bool(record.get("done"))
        if isinstance(record.get("peak_kb"), int):
            self.peak_kb = record["peak_kb"]
        self.memory |= bool(record.get("memory"))
        self.load_error = self.load_error or record.get("load_error", "")
        self.tests_error = self.tests_error or record.get("tests_error", "")


def _ended_by(status: int, isolation: Isolation) -> tuple[int | None, int | None]:
    """(exit code, signal). bubblewrap reports a command killed by signal N as exit code 128 + N."""
    if os.WIFSIGNALED(status):
        return None, os.WTERMSIG(status)
    code = os.WEXITSTATUS(status)
    if isolation.bubblewrap and code > 128:
        return code, code - 128
    return code, None


def _signal_verdict(sig: int, cpu_s: float, limits: Limits, report: Report) -> tuple[Status, str]:
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu_s >= limits.cpu_seconds):
        return Status.TIMEOUT, f"CPU time limit ({limits.cpu_seconds} s) reached"
    if sig == signal.SIGXFSZ:
        return Status.KILLED, f"file size limit ({limits.file_size_mb} MB) reached"
    if report.memory:
        return Status.MEMORY, f"memory limit ({limits.memory_mb} MB) reached"
    return Status.KILLED, f"killed by {signal.Signals(sig).name}"


def _status(
    names: tuple[str, ...], report: Report, collected: Collected, sig: int | None, code: int | None, cpu_s: float, limits: Limits
) -> tuple[Status, str]:
    if collected.timed_out:
        return Status.TIMEOUT, f"wall time limit ({limits.timeout_s:g} s) reached"
    if collected.over_output:
        return Status.KILLED, f"output limit ({limits.max_output_mb} MB) reached"
    if sig is not None and not report.done:
        return _signal_verdict(sig, cpu_s, limits, report)
    if report.memory:
        return Status.MEMORY, f"memory limit ({limits.memory_mb} MB) reached"
    if report.load_error:
        return Status.ERROR, f"the program did not load: {report.load_error}"
    if not report.done:
        return Status.ERROR, f"the run ended before its tests finished (exit code {code})"
    passed = sum(report.outcomes.get(n, (None,))[0] is Outcome.PASSED for n in names)
    if passed == len(names):
        return Status.PASSED, ""
    why = f"; the tests stopped: {report.tests_error}" if report.tests_error else ""
    return Status.FAILED, f"{passed} of {len(names)} tests passed{why}"


class SandboxError(RuntimeError):
    """The sandbox itself failed (the runner never started): no verdict on the program."""


def verdict(names: tuple[str, ...], report: Report, collected: Collected, status: int, usage, wall: float, limits: Limits, isolation: Isolation) -> RunResult:
    code, sig = _ended_by(status, isolation)
    if not report.started and not collected.timed_out:
        # A broken sandbox must never be scored as a broken program.
        tail = collected.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [f"exit code {code}, signal {sig}"]
        raise SandboxError(f"the sandbox could not start its runner ({isolation.mode}): {tail[0]}")
    cpu_s = usage.ru_utime + usage.ru_stime
    state, reason = _status(names, report, collected, sig, code, cpu_s, limits)
    tests = tuple(TestOutcome(n, *report.outcomes.get(n, (Outcome.NOT_RUN, ""))) for n in names)
    notes = (f"{report.foreign_lines} report line(s) without the runner's nonce were ignored",) if report.foreign_lines else ()
    return RunResult(
        status=state, tests=tests,
        stdout=collected.stdout.decode("utf-8", "replace"), stderr=collected.stderr.decode("utf-8", "replace"),
        wall_s=wall, cpu_s=cpu_s, peak_memory_mb=report.peak_kb / 1024 if report.peak_kb is not None else None, isolation=isolation.mode, reason=reason,
        load_error=report.load_error, tests_error=report.tests_error,
        exit_code=code, signal=sig, stdout_dropped=collected.dropped["stdout"], stderr_dropped=collected.dropped["stderr"], notes=notes,
    )  # fmt: skip
