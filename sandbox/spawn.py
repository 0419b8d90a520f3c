"""Start a process cheaply from a large parent, with chosen descriptors, in its own session,
optionally as another user.

subprocess forks to switch users, and a fork copies the parent's page tables: with a model
loaded (gigabytes resident) that alone costs ~0.1 s per run. posix_spawn (vfork underneath)
costs the same for any parent, and `setpriv` switches the user after it.
"""

from __future__ import annotations

import os
import shutil


def _as_user(argv: list[str], user: tuple[int, int] | None) -> list[str]:
    if user is None:
        return argv
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("setpriv (util-linux) is needed to run sandboxed programs as their own user")
    return [setpriv, f"--reuid={user[0]}", f"--regid={user[1]}", "--clear-groups", "--", *argv]


def spawn(argv: list[str], env: dict[str, str], fds: dict[int, int], user: tuple[int, int] | None = None) -> int:
    """The pid of `argv` started with descriptor `fds[n]` as its n (every other descriptor of
    ours is close-on-exec, so it gets nothing else), in a new session."""
    argv = _as_user(argv, user)
    actions = [(os.POSIX_SPAWN_DUP2, source, target) for target, source in sorted(fds.items())]
    return os.posix_spawn(argv[0], argv, env, file_actions=actions, setsid=True)
