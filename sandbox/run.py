"""Run a candidate program with its tests in a fresh, isolated, limited process; many in parallel.

What this protects against: a program that loops, forks without end, allocates without end,
writes without end (to files or to stdout), reaches the network, reads or writes outside its
own directory (with bubblewrap), leaves processes behind, ignores SIGTERM, or ends the run early
to look like a pass. What it does not: a program that deliberately digs through the interpreter
(frames, gc) for the runner's references to forge outcomes (sandbox/child.py); kernel exploits;
and, in the weaker mode without bubblewrap, reading or sending what the run's user may.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from . import libraries, testplan
from .collect import Collected, collect
from .isolation import Isolation, choose, provide_libraries
from .limits import Limits
from .result import RunResult
from .spawn import spawn
from .uids import run_user
from .verdict import Report, verdict

REPORT_FD, INFO_FD = 3, 4  # the run's descriptors for the runner's report and bubblewrap's info


@dataclass(frozen=True)
class Job:
    program: str
    tests: str | None = None  # None: running the program is the test
    entry_point: str | None = None  # with a `check(candidate)` in the tests: what it is called with
    limits: Limits | None = None  # None: the sandbox's


class Sandbox:
    def __init__(self, limits: Limits = Limits(), isolation: str = "auto", workers: int | None = None):
        self.limits = limits
        self.isolation: Isolation = choose(isolation)
        self.workers = workers or os.cpu_count() or 1
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")

    @property
    def mode(self) -> str:
        return self.isolation.mode

    def run(self, program: str, tests: str | None = None, entry_point: str | None = None, limits: Limits | None = None) -> RunResult:
        """Run `program` and then its tests (see sandbox/testplan.py for what counts as a test).
        Raises ValueError when the tests do not parse or hold no test, and SandboxError when the
        sandbox itself fails (never a result that blames the program)."""
        names = _plan(tests, entry_point)
        if libraries.wanted(program + (tests or "")):
            provide_libraries()
        with run_user() as user:  # each concurrent run, of any process, has its own uid
            return self._run(Job(program, tests, entry_point, limits), names, user)

    def run_many(self, jobs: Iterable[Job]) -> Iterator[tuple[int, RunResult]]:
        """(index in `jobs`, result), as runs finish, up to `workers` at once."""
        with ThreadPoolExecutor(self.workers) as pool:
            futures = {pool.submit(self.run, j.program, j.tests, j.entry_point, j.limits): i for i, j in enumerate(jobs)}
            for future in as_completed(futures):
                yield futures[future], future.result()

    def _run(self, job: Job, names: tuple[str, ...], user: tuple[int, int] | None) -> RunResult:
        limits = job.limits or self.limits
        workdir = Path(tempfile.mkdtemp(prefix="guidecode-run-"))
        try:
            if user:
                os.chown(workdir, *user)
            nonce = secrets.token_hex(16)
            start = time.monotonic()
            collected = self._execute(job, limits, user, workdir, nonce)
            wall = time.monotonic() - start
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        _, status, usage = collected.status
        report = Report.parse(bytes(collected.report), nonce)
        return verdict(names, report, collected, status, usage, wall, limits, self.isolation)

    def _execute(self, job: Job, limits: Limits, user: tuple[int, int] | None, workdir: Path, nonce: str) -> Collected:
        stdin, stdout, stderr, report, info = os.pipe(), os.pipe(), os.pipe(), os.pipe(), os.pipe()  # (read, write) each
        # Without a uid of its own (not root) and without bubblewrap's user namespace, RLIMIT_NPROC
        # counts all of the user's processes: allow the run its share on top of those.
        others = _tasks_of(os.geteuid()) if not (user or self.isolation.bubblewrap) else 0
        header = _header(job, limits, nonce, others, None if self.isolation.bubblewrap else workdir)
        env = self.isolation.environment(workdir)
        fds = {0: stdin[0], 1: stdout[1], 2: stderr[1], REPORT_FD: report[1], INFO_FD: info[1]}
        try:
            pid = spawn(self.isolation.command(workdir, info_fd=INFO_FD), env, fds, user)
        finally:
            for fd in (stdin[0], stdout[1], stderr[1], report[1], info[1]):  # the run's ends
                os.close(fd)
        init = _sandbox_init(info[0]) if self.isolation.bubblewrap else None
        pipes = {"stdin": stdin[1], "stdout": stdout[0], "stderr": stderr[0], "report": report[0]}
        deadline = time.monotonic() + limits.timeout_s
        try:
            collected = collect(pid, header, pipes, deadline, limits.output_kb * 1024, limits.max_output_mb * 1024 * 1024)
            # Its CPU time and memory are known once it has reaped its own: wait for it to end.
            if not (collected.timed_out or collected.over_output or _await_exit(pid, deadline, collected)):
                collected.timed_out = True  # it closed its output but went on running
            if collected.timed_out or collected.over_output:
                _stop(init, pid, collected)
        finally:
            if init is not None:
                os.close(init)
        _kill_leftovers(pid, user, self.isolation)
        if collected.status is None:
            collected.status = os.wait4(pid, 0)
        return collected


def _sandbox_init(info: int) -> int | None:
    """A pidfd for the runner (the sandbox's pid 1), from what bubblewrap writes to its info pipe."""
    data = b""
    while chunk := os.read(info, 4096):  # bubblewrap writes it, then closes, before the runner starts
        data += chunk
    os.close(info)
    try:
        return os.pidfd_open(json.loads(data)["child-pid"])
    except (ValueError, KeyError, OSError):
        return None  # bubblewrap failed to start, or the run is already over


def _stop(init: int | None, pid: int, collected: Collected) -> None:
    """Kill a run that is over its limits. Killing the sandbox's init first lets bubblewrap reap
    it, so the CPU time and memory it used still reach the result."""
    if init is not None:
        try:
            signal.pidfd_send_signal(init, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _await_exit(pid, time.monotonic() + 1.0, collected)


def _await_exit(pid: int, deadline: float, collected: Collected) -> bool:
    """Wait (until the deadline) for the run's first process to end, and reap it; whether it did."""
    if collected.status is not None:
        return True
    handle = os.pidfd_open(pid)
    try:
        select.select([handle], [], [], max(deadline - time.monotonic(), 0))
    finally:
        os.close(handle)
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        collected.status = (done, status, usage)
    return bool(done)


def _plan(tests: str | None, entry_point: str | None) -> tuple[str, ...]:
    try:
        names = testplan.test_names(tests, entry_point)
    except SyntaxError as error:
        raise ValueError(f"the tests do not parse: {error.msg} (line {error.lineno})") from None
    if not names:
        raise ValueError(
            "the tests hold no test: write top-level asserts, test_* functions, or a check(candidate) function full of asserts together with an entry point"
        )
    return names


def _header(job: Job, limits: Limits, nonce: str, others: int, workdir: Path | None) -> bytes:
    processes = limits.processes + others
    return json.dumps({
        "program": job.program, "tests": job.tests, "entry_point": job.entry_point,
        "report_fd": REPORT_FD, "nonce": nonce, "workdir": None if workdir is None else str(workdir),
        "libraries": libraries.wanted(job.program + (job.tests or "")),
        "limits": {"cpu_s": limits.cpu_seconds, "memory_mb": limits.memory_mb, "file_size_mb": limits.file_size_mb, "processes": processes},
    }).encode()  # fmt: skip


def _kill_leftovers(pid: int, user: tuple[int, int] | None, isolation: Isolation) -> None:
    """Kill whatever of the run is left: its process group, and with a uid of its own, every
    process of that uid (a background process may have left the group). With bubblewrap, the
    run's PID namespace ends with it, taking every process inside along."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if user and not isolation.bubblewrap:
        _kill_user(user)


def _kill_user(user: tuple[int, int], rounds: int = 100) -> None:
    """Kill every process of the run's uid. kill(-1) as that uid reaches exactly them, but a
    process forking meanwhile can slip through one round, so repeat until none is left."""
    for _ in range(rounds):
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.waitpid(spawn(["/bin/kill", "-KILL", "-1"], {}, {0: null, 1: null, 2: null}, user), 0)
        finally:
            os.close(null)
        if not _alive(user[0]):
            return


def _processes(uid: int) -> Iterator[dict[str, str]]:
    """The status fields (State, Uid, Threads) of the live (not zombie) processes of `uid`."""
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/status") as status:
                fields = dict(line.split(":", 1) for line in status if line[:4] in ("Stat", "Uid:", "Thre"))
        except (OSError, ValueError):
            continue
        if int(fields.get("Uid", "-1 ").split()[0]) == uid and fields.get("State", "Z").split()[0] not in "ZX":
            yield fields


def _alive(uid: int) -> bool:
    return next(_processes(uid), None) is not None


def _tasks_of(uid: int) -> int:
    return sum(int(fields.get("Threads", "1")) for fields in _processes(uid))
