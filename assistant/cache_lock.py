"""One writer at a time for a cache that several guidecode processes may fill at once.

Two processes loading a model for the first time together (an editor's server and a CLI run, two
eval runs, the workers of one `guidecode eval --ray` run) would otherwise write the same files, and
one would find the other's half-written file gone (seen: two `guidecode eval` started together
after the parts were reinstalled; two Ray workers packing the same model's quantized layers). The
caller checks again, once it holds the lock, whether the other process finished the cache meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .progress import Progress


@contextmanager
def alone(lock: Path, progress: Progress) -> Iterator[None]:
    """Held while a cache is written; waiting for it is shown as a phase."""
    from filelock import FileLock, Timeout

    lock.parent.mkdir(parents=True, exist_ok=True)
    held = FileLock(str(lock))
    try:
        held.acquire(timeout=0)
    except Timeout:
        with progress.phase("waiting for another guidecode process preparing the same model"):
            held.acquire()
    try:
        yield
    finally:
        held.release()
