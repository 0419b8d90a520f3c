"""The user ids sandboxed runs drop to: one per concurrent run, never shared between processes.

Each run gets a uid of its own because the end of a run kills every process of that uid (what a
program left running in the background must not outlive it). Two guidecode processes at once
(an eval and the editor's server, two evals) must therefore never hand out the same uid: one's
cleanup would kill the other's run mid-way, which then looks as if the sandbox had failed. A uid
is leased by holding an exclusive lock on a file named after it; the kernel drops the lock when
the process ends, however it ends, so a crashed process leaks nothing. Within a process, leased
uids are reused from a free list.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

UID_BASE = 4_000_000  # far from login uids and from the usual subordinate-uid ranges
UID_COUNT = 65_536  # the range leased from
LOCKS = Path("/run/guidecode-uids") if os.access("/run", os.W_OK) else Path("/tmp/guidecode-uids")

_free: list[int] = []
_held: dict[int, int] = {}  # uid -> the descriptor holding its lock, for the process's lifetime
_lock = threading.Lock()


def _lease_new() -> int:
    LOCKS.mkdir(mode=0o700, parents=True, exist_ok=True)
    for uid in range(UID_BASE, UID_BASE + UID_COUNT):
        if uid in _held:
            continue
        fd = os.open(LOCKS / str(uid), os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process holds it
            os.close(fd)
            continue
        _held[uid] = fd
        return uid
    raise RuntimeError(f"all {UID_COUNT} sandbox user ids from {UID_BASE} are held by other processes")


@contextmanager
def run_user() -> Iterator[tuple[int, int] | None]:
    """(uid, gid) for one run, held by no other run of any process until the block ends; None
    when we cannot switch users (not root)."""
    if os.geteuid() != 0:
        yield None
        return
    with _lock:
        uid = _free.pop() if _free else _lease_new()
    try:
        yield uid, uid
    finally:
        with _lock:
            _free.append(uid)
