"""The VS Code extension: its unit tests (mocked `vscode` module, node --test) and its .vsix build."""

import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

EXT = Path(__file__).resolve().parents[2] / "vscode-ext"

pytestmark = pytest.mark.slow  # npm builds and runs the extension's own tests


def npm(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["npm", *args], cwd=EXT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed():
    if shutil.which("npm") is None:
        if os.environ.get("CI"):
            pytest.fail("npm is required in CI to build and test the VS Code extension")
        pytest.skip("npm is not installed: install Node.js to build and test the VS Code extension")
    result = npm("ci", "--no-audit", "--no-fund")
    assert result.returncode == 0, result.stderr[-3000:]


def test_extension_unit_tests_pass(installed):
    result = npm("test")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    passed = int(re.search(r"# pass (\d+)", output).group(1))
    failed = int(re.search(r"# fail (\d+)", output).group(1))
    assert passed >= 20 and failed == 0


def test_vsix_packages_with_the_client_library(installed):
    result = npm("run", "package")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    vsix = sorted(EXT.glob("guidecode-*.vsix"))[-1]
    names = zipfile.ZipFile(vsix).namelist()
    assert "extension/out/extension.js" in names
    assert any(n.startswith("extension/node_modules/vscode-languageclient/") for n in names)
    assert not any(n.startswith("extension/src/") for n in names)
