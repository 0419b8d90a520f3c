"""Sandboxes for the tests: with bubblewrap (required under CI=true, where the README's set-up
installs it) and the weaker mode."""

from __future__ import annotations

import os
import shutil

import pytest

from sandbox import Limits, Sandbox

FAST = Limits(timeout_s=5.0, memory_mb=512, output_kb=16, max_output_mb=8)


@pytest.fixture(scope="session")
def bwrap_sandbox() -> Sandbox:
    if shutil.which("bwrap") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("bubblewrap is not installed: the README's set-up installs it (apt-get install bubblewrap)")
        pytest.skip("bubblewrap is not installed")
    sandbox = Sandbox(FAST, isolation="bubblewrap", workers=2)
    return sandbox


@pytest.fixture(scope="session")
def weak_sandbox() -> Sandbox:
    return Sandbox(FAST, isolation="none", workers=2)


@pytest.fixture(params=["bubblewrap", "none"])
def any_sandbox(request) -> Sandbox:
    return request.getfixturevalue("bwrap_sandbox" if request.param == "bubblewrap" else "weak_sandbox")
