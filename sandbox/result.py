"""The structured result of one sandboxed run."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum


class Status(str, Enum):
    PASSED = "passed"  # every test ran and passed, as reported from inside the run
    FAILED = "failed"  # the tests ran; at least one failed or raised
    ERROR = "error"  # the program did not load (syntax error, exception, exit) or ended the run early
    TIMEOUT = "timeout"  # the wall deadline or the CPU limit was reached
    MEMORY = "memory"  # the memory limit was reached
    KILLED = "killed"  # killed by a signal or a limit other than time and memory (file size, output)


class Outcome(str, Enum):
    PASSED = "passed"
    FAILED = "failed"  # an assertion failed
    ERROR = "error"  # the test raised something other than AssertionError (or exited)
    NOT_RUN = "not_run"  # the run ended before the test reported


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest class

    name: str  # "line 12" for an assert statement, or a test function's name
    outcome: Outcome
    detail: str = ""  # the exception, one line


@dataclass(frozen=True)
class RunResult:
    status: Status
    tests: tuple[TestOutcome, ...]
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float  # user + system, of every process of the run
    peak_memory_mb: float | None  # largest resident set of the runner or a child it waited for; None if it was killed
    isolation: str  # "bubblewrap", or "none: <why>" in the weaker mode
    reason: str = ""  # why the status is what it is, in one line ("" for a pass)
    load_error: str = ""  # the exception that stopped the program loading ("" if it loaded)
    tests_error: str = ""  # the exception that stopped the test file before its tests (an import, a fixture)
    exit_code: int | None = None  # None when killed by a signal
    signal: int | None = None
    stdout_dropped: int = 0  # bytes beyond the kept output
    stderr_dropped: int = 0
    notes: tuple[str, ...] = field(default=())  # anomalies (e.g. report lines that were not the runner's)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def tests_passed(self) -> int:
        return sum(t.outcome is Outcome.PASSED for t in self.tests)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = self.status.value
        data["tests"] = [{"name": t.name, "outcome": t.outcome.value, "detail": t.detail} for t in self.tests]
        data["notes"] = list(self.notes)
        return data
