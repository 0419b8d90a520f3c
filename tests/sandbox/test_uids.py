"""Run uids: one per concurrent run, and never one another process holds; and runs whose runner
never started are run again."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from sandbox import uids



HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from sandbox import uids
with uids.run_user() as a, uids.run_user() as b:
    print(a[0], b[0], flush=True)
    time.sleep(30)
"""


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs switch users only as root")


@as_root
def test_concurrent_runs_get_distinct_uids_and_reuse_them():
    with uids.run_user() as a, uids.run_user() as b:
        assert a != b and a[0] == a[1]
    with uids.run_user() as again:
        assert again[0] in (a[0], b[0])  # leased once per process, then reused


@as_root
def test_another_process_never_gets_a_uid_this_one_holds():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    other = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root)], stdout=subprocess.PIPE, text=True)
    try:
        theirs = set(map(int, other.stdout.readline().split()))
        assert len(theirs) == 2
        barrier = threading.Barrier(4)
        ours = []

        def take():
            with uids.run_user() as user:
                ours.append(user[0])
                barrier.wait(timeout=10)

        threads = [threading.Thread(target=take) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ours)) == 4 and not set(ours) & theirs
    finally:
        other.kill()
        other.wait()


def test_a_run_whose_runner_never_started_is_run_again_and_says_so(monkeypatch):
    from sandbox import Sandbox, SandboxError
    from sandbox.run import START_ATTEMPTS

    sandbox = Sandbox(workers=1)
    original, failures = Sandbox._run, []

    def flaky(self, job, names, user):
        if len(failures) < START_ATTEMPTS - 1:
            failures.append(1)
            raise SandboxError("the sandbox could not start its runner (test): exit code 0, signal None")
        return original(self, job, names, user)

    monkeypatch.setattr(Sandbox, "_run", flaky)
    result = sandbox.run("x = 1\n", "assert x == 1\n")
    assert result.passed and result.notes[-1] == f"the runner failed to start {START_ATTEMPTS - 1} time(s); run again"
    failures.clear()
    monkeypatch.setattr(Sandbox, "_run", lambda self, job, names, user: failures.append(1) or (_ for _ in ()).throw(SandboxError("broken")))
    with pytest.raises(SandboxError, match="broken"):
        sandbox.run("x = 1\n")
    assert len(failures) == START_ATTEMPTS
