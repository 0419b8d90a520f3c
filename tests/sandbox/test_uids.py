"""Run uids: one per concurrent run, and never one another process holds."""

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
