"""Feed a run its header and gather what it writes, until it ends or its deadline passes.

stdout and stderr keep their first `keep` bytes each; the rest is read and counted but dropped,
so a gigabyte of output costs no memory. A run whose output passes `limit` bytes in all is
stopped (`over_output`). The report pipe is kept whole: only the runner writes to it, and it
writes a line per test.
"""

from __future__ import annotations

import os
import selectors
import time
from dataclasses import dataclass, field

_CHUNK = 1 << 16
_POLL_S = 0.05  # how often to look whether the run has ended while something still holds its pipes


@dataclass
class Collected:
    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    report: bytearray = field(default_factory=bytearray)
    dropped: dict[str, int] = field(default_factory=lambda: {"stdout": 0, "stderr": 0})
    timed_out: bool = False
    over_output: bool = False
    status: tuple[int, int, object] | None = None  # os.wait4's answer once the run has ended


def _keep(collected: Collected, name: str, data: bytes, keep: int) -> None:
    buffer = collected.stdout if name == "stdout" else collected.stderr
    room = max(keep - len(buffer), 0)
    buffer += data[:room]
    collected.dropped[name] += len(data) - min(room, len(data))


def collect(pid: int, header: bytes, pipes: dict[str, int], deadline: float, keep: int, limit: int) -> Collected:
    """`pipes`: file descriptors named stdin (written), stdout, stderr, report (read); all are closed here."""
    collected, written, total = Collected(), 0, 0
    selector = selectors.DefaultSelector()
    for name, fd in pipes.items():
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_WRITE if name == "stdin" else selectors.EVENT_READ, name)
    try:
        while selector.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                collected.timed_out = True
                break
            events = selector.select(min(left, _POLL_S))
            if not events and _ended(pid, collected):
                # The run is over, but it may have written everything after the select timed out
                # (this thread waited for the GIL or a core meanwhile): take what its pipes hold.
                # What still holds them open is a leftover the caller kills.
                total += _drain(selector, collected, keep, limit - total)
                collected.over_output = total > limit
                break
            for key, _ in events:
                if key.data == "stdin":
                    written += _write(key.fd, header, written, selector)
                else:
                    total += _take(collected, key.data, _read(key.fd, selector), keep)
            if total > limit:
                collected.over_output = True
                break
    finally:
        for key in list(selector.get_map().values()):
            selector.unregister(key.fd)
            os.close(key.fd)
        selector.close()
    return collected


def _take(collected: Collected, name: str, data: bytes, keep: int) -> int:
    """Keep what a pipe gave; how many bytes count towards the output limit."""
    if name == "report":
        collected.report += data
        return 0
    _keep(collected, name, data, keep)
    return len(data)


def _drain(selector: selectors.BaseSelector, collected: Collected, keep: int, room: int) -> int:
    """Read each pipe still open until it is empty (non-blocking), or until more than `room`
    bytes of output came (a leftover may still be writing); the output bytes taken."""
    total = 0
    for key in list(selector.get_map().values()):
        if key.data == "stdin":
            continue
        while total <= room and (data := _read(key.fd, selector)):
            total += _take(collected, key.data, data, keep)
    return total


def _write(fd: int, header: bytes, written: int, selector: selectors.BaseSelector) -> int:
    try:
        n = os.write(fd, header[written : written + _CHUNK])
    except BlockingIOError:
        return 0
    except BrokenPipeError:  # the run ended before reading its header: the result says how
        selector.unregister(fd)
        os.close(fd)
        return 0
    if written + n >= len(header):
        selector.unregister(fd)
        os.close(fd)
    return n


def _read(fd: int, selector: selectors.BaseSelector) -> bytes:
    try:
        data = os.read(fd, _CHUNK)
    except BlockingIOError:
        return b""
    if not data:
        selector.unregister(fd)
        os.close(fd)
    return data


def _ended(pid: int, collected: Collected) -> bool:
    if collected.status is None:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            collected.status = (done, status, usage)
    return collected.status is not None
