"""A real editor end to end: headless Neovim's built-in LSP client gets completions from `guidecode serve`.

Needs `nvim` on PATH (Debian: `apt-get install -y neovim`, 0.7.2 on bookworm; CI installs it).
tests/lsp/nvim_complete.lua does the editor's side and writes a JSON report that is checked here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.lsp.conftest import TEST_DTYPE

SCRIPT = Path(__file__).with_name("nvim_complete.lua")
TEXT = "import os\n\ndef main():\n    path = os.getcwd()\n    print(path\n"
LINE, CHARACTER = 4, len("    print(path")
TIMEOUT = 180  # seconds for the whole editor session; the Lua script bounds every wait by 60 s

NVIM = shutil.which("nvim")
# Skipped on a developer machine without Neovim; in CI (CI=true) a missing editor is a failure.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(NVIM is None and not os.environ.get("CI"), reason="needs Neovim: apt-get install -y neovim")]


def run_neovim(tmp_path: Path, model_dir: Path) -> tuple[dict, str]:
    source = tmp_path / "project" / "app.py"
    source.parent.mkdir()
    source.write_text(TEXT)
    out = tmp_path / "report.json"
    home = tmp_path / "nvim-home"  # keeps the user's config, shada and lsp.log out of it
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_DATA_HOME": str(home / "data"),
        "XDG_CACHE_HOME": str(home / "cache"),
        "XDG_STATE_HOME": str(home / "state"),
        "GUIDECODE_NVIM_FILE": str(source),
        "GUIDECODE_NVIM_PYTHON": sys.executable,
        "GUIDECODE_NVIM_MODEL": str(model_dir),
        "GUIDECODE_NVIM_DTYPE": TEST_DTYPE,
        "GUIDECODE_NVIM_LINE": str(LINE),
        "GUIDECODE_NVIM_CHARACTER": str(CHARACTER),
        "GUIDECODE_NVIM_OUT": str(out),
    }
    script = str(SCRIPT).replace("\\", "\\\\").replace(" ", "\\ ")
    command = [NVIM, "--headless", "--clean", "-c", f"luafile {script}"]
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,  # on a hang the editor and the server it started die together
    )
    try:
        output, _ = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        pytest.fail(f"Neovim did not finish within {TIMEOUT} s; its output:\n{output}\n{lsp_log(home)}")
    report = json.loads(out.read_text()) if out.exists() else None
    if process.returncode != 0 or not report or not report.get("ok"):
        details = json.dumps(report, indent=1)[:4000] if report else "no report written"
        pytest.fail(f"Neovim exited {process.returncode}; report: {details}\noutput:\n{output}\n{lsp_log(home)}")
    return report, output


def lsp_log(home: Path) -> str:
    """Neovim's LSP log, where the server's stderr ends up."""
    logs = list(home.rglob("lsp.log"))
    return "lsp.log:\n" + logs[0].read_text(errors="replace")[-4000:] if logs else "(no lsp.log)"


def lf(text: str) -> str:
    """Neovim applies edits with \\r and \\r\\n turned into line breaks."""
    return re.sub(r"\r\n?", "\n", text)


def test_neovim_gets_completions_from_the_server(tmp_path, tiny_model_dir):
    report, _ = run_neovim(tmp_path, tiny_model_dir)
    position = {"line": LINE, "character": CHARACTER}

    # The client reached the server: Neovim holds the server's capabilities from `initialize`.
    caps = report["server_capabilities"]
    assert "completionProvider" in caps
    assert caps["textDocumentSync"]["change"] == 2  # incremental
    sent = [n["method"] for n in report["notifications"]]
    opened = [n["params"] for n in report["notifications"] if n["method"] == "textDocument/didOpen"]
    assert len(opened) == 1, sent
    assert opened[0]["textDocument"]["languageId"] == "python"
    assert opened[0]["textDocument"]["text"] == TEXT

    # 1. textDocument/completion: one item whose edit inserts the server's proposal at the cursor.
    first = report["first"]
    assert first["isIncomplete"] is True
    assert len(first["items"]) == 1, first
    edit = first["items"][0]["textEdit"]
    proposal = edit["newText"]
    assert proposal, "the server proposed an empty completion"
    assert edit["range"] == {"start": position, "end": position}

    # 2. The same position over inline completion proposes the same text.
    inline = report["inline"]["items"]
    assert [item["insertText"] for item in inline] == [proposal]

    # 3. Typing one character reached the server as an incremental change at the cursor.
    typed = report["typed"]
    assert typed == (proposal[0] if " " <= proposal[0] <= "~" else "x")
    changes = [n["params"] for n in report["notifications"] if n["method"] == "textDocument/didChange"]
    assert changes, sent
    assert changes[0]["textDocument"]["version"] > opened[0]["textDocument"]["version"]
    assert changes[0]["contentChanges"] == [{"range": {"start": position, "end": position}, "rangeLength": 0, "text": typed}]

    # 4. The completion after the edit: one non-empty item at the new cursor; when the user typed
    # the proposal's first character and more is left, it is the rest of that proposal.
    after = {"line": LINE, "character": CHARACTER + 1}
    assert report["second_position"] == after
    second = report["second"]
    assert len(second["items"]) == 1, second
    second_edit = second["items"][0]["textEdit"]
    assert second_edit["range"] == {"start": after, "end": after}
    rest = second_edit["newText"]
    assert rest
    typed_ahead = typed == proposal[0] and len(proposal) > 1
    if typed_ahead:
        assert rest == proposal[1:]

    # 5. Neovim applied the item: the buffer holds what the user typed followed by the completion.
    offset = sum(len(line) for line in TEXT.splitlines(keepends=True)[:LINE]) + CHARACTER
    expected = lf(TEXT[:offset] + typed + rest + TEXT[offset:])
    assert "\n".join(report["buffer_lines"]) + "\n" == expected

    # 6. The server saw it the same way: one generation, whose text answered the inline request
    # at the same place and, when the typed character agreed with it, the one after it.
    stats = report["stats"]
    assert stats["requests"] == 3
    assert stats["cacheHits"]["typedAhead"] == (2 if typed_ahead else 1)
    assert stats["latencyMsByKind"]["cold"]["n"] == 1
    assert stats["generations"]["requested"] == (1 if typed_ahead else 2)

    # 7. A clean shutdown: `shutdown`, `exit`, and the server process ended with status 0.
    assert report["exit"] == {"code": 0, "signal": 0}
