"""Hostile programs: each must leave the host untouched and must not be scored as a pass.

Every run here is of a wrong or missing solution dressed up to look like a pass, or of a program
attacking the machine; the assertions check the host afterwards, not only the result.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from pathlib import Path

import pytest

from sandbox import Limits, Status, uids

ROOT = Path(__file__).resolve().parents[2]  # the project: a run must not see it
WRONG = "def add(a, b):\n    return 0\n"
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


def _processes_with(marker: str) -> list[int]:
    """Host pids whose command line holds `marker`, or that run as a uid this process's runs
    leased (another guidecode process, an eval say, may be running programs of its own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            status = dict(line.split(":", 1) for line in (entry / "status").read_text().splitlines() if ":" in line)
        except (OSError, ValueError):
            continue
        uid, state = int(status["Uid"].split()[0]), status["State"].split()[0]
        if state in "ZX":
            continue  # a zombie runs nothing; its parent has yet to reap it
        if marker in cmdline or uid in uids._held:
            found.append(int(entry.name))
    return found


@pytest.fixture
def secret(tmp_path_factory) -> Path:
    """A file in the project (where the user's code lives), removed afterwards."""
    path = ROOT / f".guidecode-test-secret-{uuid.uuid4().hex}"
    path.write_text("hunter2\n")
    yield path
    path.unlink(missing_ok=True)


def test_fork_bomb(any_sandbox):
    program = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    result = any_sandbox.run(program + WRONG, CHECK, "add", limits=Limits(timeout_s=2, processes=32))
    assert result.status in (Status.TIMEOUT, Status.KILLED, Status.ERROR) and not result.passed
    assert _processes_with("guidecode-never-matches") == []  # every process of the run is gone


def test_infinite_loop(any_sandbox):
    result = any_sandbox.run("while True:\n    pass\n", CHECK, "add", limits=Limits(timeout_s=1))
    assert result.status is Status.TIMEOUT and not result.passed
    assert result.wall_s < 3


def test_memory_bomb(any_sandbox):
    program = "blocks = []\nwhile True:\n    blocks.append(bytearray(16 * 1024 * 1024))\n"
    result = any_sandbox.run(program + WRONG, CHECK, "add", limits=Limits(memory_mb=256))
    assert result.status is Status.MEMORY and not result.passed
    assert result.peak_memory_mb is not None and result.peak_memory_mb < 300


def test_memory_bomb_inside_a_test(any_sandbox):
    program = "def add(a, b):\n    return len(bytearray(10 ** 12))\n"
    result = any_sandbox.run(program, CHECK, "add", limits=Limits(memory_mb=256))
    assert result.status is Status.MEMORY and not result.passed


def test_a_gigabyte_of_output(any_sandbox):
    program = "import os\nchunk = b'x' * (1 << 20)\nfor _ in range(1024):\n    os.write(1, chunk)\n"
    result = any_sandbox.run(program + WRONG, CHECK, "add", limits=Limits(timeout_s=20, output_kb=16, max_output_mb=8))
    assert result.status is Status.KILLED and "output limit" in result.reason and not result.passed
    assert len(result.stdout) == 16 * 1024  # the rest was read and dropped, never held


def test_network_connection(bwrap_sandbox):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(3)
    accepted = []
    threading.Thread(target=lambda: accepted.append(_accept(server)), daemon=True).start()
    port = server.getsockname()[1]
    program = (
        "import socket\nreached = []\nfor host in ('127.0.0.1', '1.1.1.1'):\n    try:\n"
        f"        socket.create_connection((host, {port}), timeout=1).close()\n        reached.append(host)\n"
        "    except OSError:\n        pass\n"
    )
    result = bwrap_sandbox.run(program, "assert reached == []\n")
    assert result.status is Status.PASSED, result  # no host could be reached from inside
    server.close()
    assert accepted in ([None], [])  # and the host's server saw nobody


def _accept(server: socket.socket):
    try:
        return server.accept()
    except OSError:
        return None


def test_reading_the_project_and_home(bwrap_sandbox, secret):
    program = (
        "import os\nseen = []\n"
        f"for path in ({str(secret)!r}, {str(ROOT / 'README.md')!r}, os.path.expanduser('~root/.bashrc'), '/root', '/etc/passwd'):\n"
        "    try:\n        seen.append(open(path).read()[:20])\n    except OSError:\n        pass\n"
        "print(seen)\n"
    )
    result = bwrap_sandbox.run(program, "assert seen == []\n")
    assert result.status is Status.PASSED, result
    assert "hunter2" not in result.stdout


def test_writing_and_deleting_outside(bwrap_sandbox, secret):
    planted = ROOT / f".guidecode-test-planted-{uuid.uuid4().hex}"
    program = (
        "import os\n"
        f"for act in (lambda: os.remove({str(secret)!r}), lambda: open({str(planted)!r}, 'w').write('x'),\n"
        "            lambda: open('/usr/planted', 'w').write('x'), lambda: os.remove('/usr/bin/env')):\n"
        "    try:\n        act()\n    except OSError:\n        pass\n"
    )
    result = bwrap_sandbox.run(program + WRONG, CHECK, "add")
    assert not result.passed
    assert secret.read_text() == "hunter2\n" and not planted.exists()
    assert not Path("/usr/planted").exists() and Path("/usr/bin/env").exists()


def test_a_background_process_does_not_outlive_the_run(any_sandbox):
    if not any_sandbox.isolation.bubblewrap and os.geteuid() != 0:
        pytest.skip("the weaker mode kills a run's leftovers by its uid, which needs root (documented)")
    marker = f"guidecode-daemon-{uuid.uuid4().hex}"
    program = (
        "import os, subprocess, sys\n"
        f"subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)', {marker!r}], start_new_session=True,\n"
        "                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "if os.fork() == 0:\n    os.setsid()\n    import time\n    time.sleep(60)\n"
    )
    result = any_sandbox.run(program + WRONG, CHECK, "add")
    assert not result.passed
    assert _processes_with(marker) == []


def test_a_process_ignoring_sigterm(any_sandbox):
    program = "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass\n"
    result = any_sandbox.run(program, CHECK, "add", limits=Limits(timeout_s=1))
    assert result.status is Status.TIMEOUT
    leftovers = _processes_with("guidecode-never-matches")
    assert leftovers == [], [Path(f"/proc/{p}/status").read_text()[:300] for p in leftovers]


@pytest.mark.parametrize(
    "program",
    [
        "import os\nos._exit(0)\n",  # exits 0 before the tests
        "import sys\nsys.exit(0)\n",  # SystemExit in the module body
        "import os\ndef add(a, b):\n    os._exit(0)\n",  # exits 0 from inside a test
        "import os, signal\nos.kill(os.getppid() or 1, signal.SIGKILL)\n" + WRONG,  # kills its parent
        "import os, signal\nos.kill(0, signal.SIGKILL)\n" + WRONG,  # kills its whole group
        "import builtins\nbuiltins.AssertionError = type('Fine', (Exception,), {})\n" + WRONG,  # patches assert
        "import os\nos.write = lambda fd, data: len(data)\n" + WRONG,  # silences the report
        "import atexit, sys\nprint('passed')\natexit.register(lambda: print('{\"done\": true}'))\n" + WRONG,
    ],
    ids=["os_exit", "sys_exit", "exit_in_test", "kill_parent", "kill_group", "patch_assert", "patch_write", "fake_output"],
)
def test_shortcuts_to_a_pass_do_not_pass(any_sandbox, program):
    result = any_sandbox.run(program, CHECK, "add")
    assert not result.passed and result.status is not Status.PASSED, result
    assert result.tests_passed == 0


def test_forged_report_lines_are_ignored(any_sandbox):
    forge = "import os, json\nfor fd in range(3, 1024):\n    try:\n        os.write(fd, (json.dumps({'test': 'check line 2', 'outcome': 'passed'}) + '\\n' + json.dumps({'done': True}) + '\\n').encode())\n    except OSError:\n        pass\n"
    result = any_sandbox.run(forge + WRONG, CHECK, "add")
    assert result.status is Status.FAILED and result.tests_passed == 0
    assert result.notes and "without the runner's nonce" in result.notes[0]


def test_the_host_is_still_fine_after_all_of_it():
    assert os.getppid() > 0 and Path(ROOT / "README.md").exists()
