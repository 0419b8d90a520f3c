"""How a run is isolated: the command line that starts the runner, and who it runs as.

With bubblewrap: new user, PID, network, IPC and UTS namespaces (no network at all), `/usr` and the
interpreter read-only, a fresh tmpfs `/tmp`, the run's own directory as the only writable place
(`/home/sandbox`), a scrubbed environment, and the run dies with its parent. Without it (or where
it cannot start) the weaker mode keeps every limit, the scrubbed environment and the fresh
directory, but not the filesystem or network isolation; every result says so.

When the parent is root, each run drops to an unprivileged uid of its own slot: RLIMIT_NPROC is
not enforced for root, and a run's uid is then what the cleanup kills by.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import libraries
from .uids import run_user

RUNNER_FILES = ("child.py", "testplan.py")  # what runs inside, next to this module
LIBRARIES = "lib"  # beside them: what a run may import besides its interpreter's own (libraries.py)
INSIDE_CHILD = "/opt/guidecode/sandbox"
INSIDE_HOME = "/home/sandbox"
ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}


@dataclass(frozen=True)
class Isolation:
    bubblewrap: str | None  # the bwrap binary, or None for the weaker mode
    interpreter: str  # the Python that runs the runner
    reason: str = ""  # why the weaker mode, if it is

    @property
    def mode(self) -> str:
        return "bubblewrap" if self.bubblewrap else f"none: {self.reason}"

    def command(self, workdir: Path, python_args: list[str] | None = None, info_fd: int | None = None) -> list[str]:
        """The argv that runs the runner (or Python with `python_args`) with `workdir` as its
        working and only writable directory; bubblewrap writes the run's pid to `info_fd`."""
        if not self.bubblewrap:
            return [self.interpreter, "-I", "-B", *(python_args or [str(runner_directory() / "child.py")])]
        args = python_args or [f"{INSIDE_CHILD}/child.py"]
        info = ["--info-fd", str(info_fd)] if info_fd is not None else []
        return [self.bubblewrap, *_bwrap_options(self.interpreter, workdir), *info, self.interpreter, "-I", "-B", *args]

    def environment(self, workdir: Path) -> dict[str, str]:
        return {**ENV, "HOME": INSIDE_HOME if self.bubblewrap else str(workdir), "TMPDIR": "/tmp"}


@cache
def runner_directory() -> Path:
    """A copy of the runner's files (and `lib/`, for the libraries runs get) that a run's own uid
    can read. The checkout itself may sit below a directory only its owner may enter (a
    `mktemp -d` clone is 0700), so it is not used in place. Made once per process, removed at exit."""
    directory = Path(tempfile.mkdtemp(prefix="guidecode-runner-"))
    atexit.register(shutil.rmtree, directory, True)
    for name in RUNNER_FILES:
        shutil.copyfile(Path(__file__).with_name(name), directory / name)
        (directory / name).chmod(0o644)
    (directory / LIBRARIES).mkdir(mode=0o755)
    directory.chmod(0o755)
    return directory


_copying = threading.Lock()


def provide_libraries() -> None:
    """Copies the libraries runs may import (libraries.py) into the runner's `lib/`, once per
    process, the first time a run wants them: runs that never do (an eval's) never wait for it."""
    with _copying:
        _copy_libraries()


@cache
def _copy_libraries() -> None:
    target = runner_directory() / LIBRARIES
    libraries.copy_into(target)
    for path in target.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def _system_links() -> list[str]:
    """/bin, /lib, /lib64, /sbin as the host has them: links into /usr (merged /usr), or read-only binds."""
    options: list[str] = []
    for name in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            options += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            options += ["--ro-bind", str(path), str(path)]
    return options


def _interpreter_binds(interpreter: str) -> list[str]:
    prefix = Path(interpreter).resolve().parent.parent  # <prefix>/bin/python3.X
    return [] if str(prefix).startswith("/usr") else ["--ro-bind", str(prefix), str(prefix)]


def _bwrap_options(interpreter: str, workdir: Path) -> list[str]:
    return [
        # --as-pid-1: the runner is the namespace's init, so bubblewrap waits for it and its CPU
        # time and memory reach our wait4 (with bubblewrap's own init they do not); when it ends,
        # the kernel kills everything else in the namespace.
        "--unshare-all", "--die-with-parent", "--new-session", "--as-pid-1",
        "--ro-bind", "/usr", "/usr", *_system_links(), *_interpreter_binds(interpreter),
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
        "--ro-bind", str(runner_directory()), INSIDE_CHILD,
        "--bind", str(workdir), INSIDE_HOME, "--chdir", INSIDE_HOME,
        "--clearenv",
    ]  # fmt: skip


def interpreters() -> list[str]:
    """Pythons to try, best first: the one running guidecode (its base install), then the system's."""
    found = [str(Path(sys._base_executable).resolve()), shutil.which("python3", path="/usr/bin:/usr/local/bin") or ""]
    return list(dict.fromkeys(p for p in found if p))


def _starts(isolation: Isolation, user: tuple[int, int] | None) -> str:
    """ "" if a trivial program runs under `isolation` as `user`, else what went wrong."""
    workdir = Path(os.environ.get("TMPDIR", "/tmp"))
    argv = isolation.command(workdir, ["-c", "import sys; print(sys.version_info[0])"])
    extra = {"user": user[0], "group": user[1], "extra_groups": []} if user else {}
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=isolation.environment(workdir), **extra)
    except (OSError, subprocess.SubprocessError) as error:
        return str(error)
    return "" if done.returncode == 0 and done.stdout.strip() == "3" else (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]


def _first_that_starts(bwrap: str | None) -> tuple[Isolation | None, str]:
    """The first interpreter that runs under this isolation as a run's user (a root-owned
    install under /root is not readable by it), or None and what went wrong with each."""
    failures = []
    for interpreter in interpreters():
        isolation = Isolation(bwrap, interpreter)
        with run_user() as user:
            failure = _starts(isolation, user)
        if not failure:
            return isolation, ""
        failures.append(f"{interpreter}: {failure}")
    return None, "; ".join(failures)


@cache
def choose(mode: str = "auto") -> Isolation:
    """The isolation to use: "auto" (bubblewrap when it works here, else the weaker mode, saying
    why), "bubblewrap" (an error if it cannot run) or "none"."""
    if mode not in ("auto", "bubblewrap", "none"):
        raise ValueError(f"unknown isolation {mode!r}; choose auto, bubblewrap or none")
    why = "asked for (isolation none)"
    if mode != "none":
        bwrap = shutil.which("bwrap")
        why = "bubblewrap is not installed (apt-get install bubblewrap)"
        if bwrap is not None:
            isolation, failures = _first_that_starts(bwrap)
            if isolation is not None:
                return isolation
            why = f"bubblewrap cannot start Python here ({failures})"
        if mode == "bubblewrap":
            raise RuntimeError(why)
    weak, failures = _first_that_starts(None)
    if weak is None:
        raise RuntimeError(f"no Python interpreter can run sandboxed programs here ({failures})")
    return Isolation(None, weak.interpreter, why)
