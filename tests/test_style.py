"""Lint, format and types as pyproject.toml configures them (ruff; basedpyright on decoders/ and
assistant/, with no error tolerated): a change that breaks one fails here, with the tool's own report."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing():
    done = _run(sys.executable, "-m", "ruff", "check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_formatted():
    done = _run(sys.executable, "-m", "ruff", "format", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr + "\nrun `ruff format .` to format it"


def test_the_type_checker_finds_no_error():
    checker = shutil.which("basedpyright") or str(Path(sys.executable).parent / "basedpyright")
    done = _run(checker)
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr
