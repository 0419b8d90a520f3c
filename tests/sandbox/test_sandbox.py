"""The sandbox's results: per-test outcomes reported from inside, statuses, limits, parallel runs."""

from __future__ import annotations

import pytest

from sandbox import Job, Limits, Outcome, Sandbox, Status, testplan

ADD = "def add(a, b):\n    return a + b\n"
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"


def test_a_correct_program_passes_every_test(any_sandbox):
    result = any_sandbox.run(ADD, CHECK, "add")
    assert result.status is Status.PASSED, result
    assert [t.name for t in result.tests] == ["check line 2", "check line 3"]
    assert all(t.outcome is Outcome.PASSED for t in result.tests)
    assert result.passed and result.tests_passed == 2 and result.reason == ""


def test_each_assert_is_a_test_of_its_own(any_sandbox):
    result = any_sandbox.run("def add(a, b):\n    return 3\n", CHECK, "add")
    assert result.status is Status.FAILED
    assert [t.outcome for t in result.tests] == [Outcome.PASSED, Outcome.FAILED]
    assert result.reason == "1 of 2 tests passed"


def test_top_level_asserts_and_test_functions(any_sandbox):
    tests = "assert add(1, 1) == 2\n\ndef test_zero():\n    assert add(0, 0) == 0\n\ndef test_raises():\n    add(None, 1)\n"
    result = any_sandbox.run(ADD, tests)
    assert [(t.name, t.outcome) for t in result.tests] == [
        ("line 1", Outcome.PASSED), ("test_zero", Outcome.PASSED), ("test_raises", Outcome.ERROR)]  # fmt: skip
    assert "TypeError" in result.tests[2].detail
    assert result.status is Status.FAILED


def test_without_tests_the_program_running_through_is_the_test(any_sandbox):
    result = any_sandbox.run("print('hello')\n")
    assert result.status is Status.PASSED and result.stdout == "hello\n"
    assert any_sandbox.run("raise ValueError('no')\n").status is Status.ERROR
    assert any_sandbox.run("import sys\nsys.exit(0)\n").status is Status.PASSED  # a script may end so
    assert any_sandbox.run("import sys\nsys.exit(3)\n").status is Status.ERROR


def test_a_loop_of_asserts_is_one_test(any_sandbox):
    tests = "def check(candidate):\n    for a in range(3):\n        assert candidate(a, 0) == a\n    assert candidate(1, 1) == 2\n"
    assert [t.name for t in any_sandbox.run(ADD, tests, "add").tests] == ["check line 2", "check line 4"]
    result = any_sandbox.run("def add(a, b):\n    return 0 if a < 2 else a + b\n", tests, "add")
    assert [t.outcome for t in result.tests] == [Outcome.FAILED, Outcome.FAILED]


def test_a_program_that_does_not_load_is_an_error(any_sandbox):
    result = any_sandbox.run("def add(a, b)\n    return a + b\n", CHECK, "add")
    assert result.status is Status.ERROR and "SyntaxError" in result.reason
    assert all(t.outcome is Outcome.NOT_RUN for t in result.tests)
    assert result.load_error.startswith("SyntaxError") and result.tests_error == ""


def test_a_test_file_stopped_before_its_tests_says_by_what(any_sandbox):
    tests = "import no_such_module_here\n\ndef test_add():\n    assert add(1, 2) == 3\n"
    result = any_sandbox.run(ADD, tests)
    assert result.status is Status.FAILED and result.tests[0].outcome is Outcome.NOT_RUN
    assert result.tests_error.startswith("ModuleNotFoundError") and "no_such_module_here" in result.tests_error
    assert result.load_error == "" and result.tests_error in result.reason


def test_a_missing_entry_point_fails_the_tests(any_sandbox):
    result = any_sandbox.run("def plus(a, b):\n    return a + b\n", CHECK, "add")
    assert result.status is Status.FAILED and "'add'" in result.reason


def test_bad_tests_are_a_clear_error(any_sandbox):
    with pytest.raises(ValueError, match="do not parse"):
        any_sandbox.run(ADD, "assert (")
    with pytest.raises(ValueError, match="hold no test"):
        any_sandbox.run(ADD, "x = 1\n")


PYTEST_STYLE = """import pytest

@pytest.mark.parametrize("a, b, want", [(1, 2, 3), (2, 2, 4), pytest.param(0, 0, 99, marks=pytest.mark.xfail)])
def test_cases(a, b, want):
    assert add(a, b) == want

@pytest.mark.parametrize("a", [1, 2])
@pytest.mark.parametrize("b", [10, 20])
def test_stacked(a, b):
    assert add(a, b) - b == a

def test_raises():
    with pytest.raises(TypeError):
        add(None, 1)
"""


def test_a_pytest_style_file_runs_with_pytest_from_guidecodes_environment(any_sandbox):
    result = any_sandbox.run(ADD, PYTEST_STYLE)
    assert result.passed, (result.reason, result.tests)
    wrong = any_sandbox.run("def add(a, b):\n    return a + b + (a == 2)\n", PYTEST_STYLE)
    assert [(t.name, t.outcome) for t in wrong.tests] == [
        ("test_cases", Outcome.FAILED), ("test_stacked", Outcome.FAILED), ("test_raises", Outcome.PASSED)]  # fmt: skip
    # one test per function, failing at its first failing case, which it names (the xfail case is left out)
    assert wrong.tests[0].detail == "case 2 of 2 (a=2, b=2, want=4): AssertionError"
    assert wrong.tests[1].detail.startswith("case 2 of 4 (b=10, a=2): AssertionError")


def test_a_run_gets_pytest_only_when_its_own_text_names_it(any_sandbox):
    import subprocess

    if subprocess.run([any_sandbox.isolation.interpreter, "-I", "-c", "import pluggy"], capture_output=True).returncode == 0:
        pytest.skip("the sandbox's interpreter has pluggy of its own")
    any_sandbox.run(ADD, PYTEST_STYLE)  # the copy is made in this process now
    quiet = any_sandbox.run("import pluggy\n")  # a requirement of pytest's, not named: not given
    assert quiet.status is Status.ERROR and "No module named 'pluggy'" in quiet.reason
    assert any_sandbox.run("import pluggy  # for pytest\n").passed


CLASSES = """import pytest

class TestAdd:
    def setup_method(self, method):
        self.calls = getattr(self, "calls", 0) + 1  # a fresh instance per case: always 1
        self.base = 10

    @pytest.mark.parametrize("a", [1, 2])
    def test_base(self, a):
        assert self.calls == 1 and add(self.base, a) == 10 + a

    def test_zero(self):
        assert add(0, 0) == 0


@pytest.mark.parametrize("b", [3, 4])
class TestMarked:
    def test_b(self, b):
        assert add(b, 0) == b


@pytest.mark.skip(reason="not yet")
def test_skipped():
    assert False


class TestAdd2:
    @pytest.mark.xfail
    def test_known_bad(self):
        assert False


class TestNotCollected:
    def __init__(self):
        pass

    def test_never(self):
        assert False
"""


def test_test_classes_run_as_pytest_runs_them(any_sandbox):
    assert testplan.test_names(CLASSES, None) == ("TestAdd::test_base", "TestAdd::test_zero", "TestMarked::test_b")
    result = any_sandbox.run(ADD, CLASSES)
    assert result.passed, (result.reason, result.tests)
    wrong = any_sandbox.run("def add(a, b):\n    return a + b + (b == 4)\n", CLASSES)
    assert [(t.name, t.outcome) for t in wrong.tests] == [
        ("TestAdd::test_base", Outcome.PASSED), ("TestAdd::test_zero", Outcome.PASSED), ("TestMarked::test_b", Outcome.PASSED)]  # fmt: skip
    wrong = any_sandbox.run("def add(a, b):\n    return a + b + (a == 4)\n", CLASSES)
    assert wrong.tests[2].detail == "case 2 of 2 (b=4): AssertionError"


def test_a_parametrize_without_cases_does_not_pass(any_sandbox):
    tests = "import pytest\n\n@pytest.mark.parametrize('a', [])\ndef test_none(a):\n    assert add(a, 1)\n"
    result = any_sandbox.run(ADD, tests)
    assert not result.passed and "gives no case to run" in result.tests[0].detail


def test_output_is_kept_up_to_the_limit_and_the_rest_counted(any_sandbox):
    result = any_sandbox.run("import sys\nsys.stdout.write('x' * 100_000)\nsys.stderr.write('e')\n")
    assert result.status is Status.PASSED
    assert len(result.stdout) == 16 * 1024 and result.stdout_dropped == 100_000 - 16 * 1024
    assert result.stderr == "e"


def test_time_memory_and_cpu_are_measured(any_sandbox):
    result = any_sandbox.run("x = bytearray(200 * 1024 * 1024)\ns = sum(range(2_000_000))\n")
    assert result.status is Status.PASSED
    assert result.peak_memory_mb > 150
    assert 0 < result.cpu_s and 0 < result.wall_s < 5


def test_cpu_limit(any_sandbox):
    result = any_sandbox.run("while True:\n    pass\n", limits=Limits(timeout_s=5, cpu_s=1))
    assert result.status is Status.TIMEOUT and "CPU time" in result.reason
    assert result.wall_s < 4


def test_file_size_limit(any_sandbox):
    result = any_sandbox.run("open('big', 'wb').write(b'x' * (3 * 1024 * 1024))\n", limits=Limits(file_size_mb=1))
    assert result.status in (Status.KILLED, Status.ERROR) and not result.passed
    assert "file size" in result.reason or "File too large" in result.reason


def test_the_run_writes_in_its_own_fresh_directory(any_sandbox):
    program = "import os\nassert os.listdir('.') == []\nopen('note', 'w').write('x')\nprint(os.getcwd())\n"
    first, second = any_sandbox.run(program), any_sandbox.run(program)
    assert first.status is Status.PASSED and second.status is Status.PASSED, (first, second)


def test_the_environment_is_scrubbed(any_sandbox, monkeypatch):
    monkeypatch.setenv("GUIDECODE_SECRET_TOKEN", "hunter2")
    result = any_sandbox.run("import os\nprint(sorted(os.environ))\n")
    assert "GUIDECODE_SECRET_TOKEN" not in result.stdout and "hunter2" not in result.stdout


def test_the_weaker_mode_says_so(weak_sandbox, bwrap_sandbox):
    assert weak_sandbox.run(ADD).isolation.startswith("none: ")
    assert bwrap_sandbox.run(ADD).isolation == "bubblewrap"


def test_runs_in_parallel_come_back_by_index(any_sandbox):
    jobs = [Job(f"def add(a, b):\n    return a + b + {i}\n", CHECK, "add") for i in range(6)]
    results = dict(any_sandbox.run_many(jobs))
    assert sorted(results) == list(range(6))
    assert [results[i].passed for i in range(6)] == [True] + [False] * 5


def test_parallel_runs_overlap():
    sandbox = Sandbox(Limits(timeout_s=10), workers=2)
    program = "import time\nstart = time.monotonic()\ntime.sleep(0.5)\nprint(start, time.monotonic())\n"
    results = dict(sandbox.run_many([Job(program)] * 4))
    spans = sorted(tuple(map(float, r.stdout.split())) for r in results.values())
    # CLOCK_MONOTONIC is the host's inside the sandbox too: two runs were alive at the same moment.
    assert any(a[1] > b[0] for a, b in zip(spans, spans[1:])), spans


def test_limits_reject_bad_values():
    with pytest.raises(ValueError, match="timeout"):
        Limits(timeout_s=0)
    with pytest.raises(ValueError, match="memory"):
        Limits(memory_mb=1)
    with pytest.raises(ValueError, match="isolation"):
        Sandbox(isolation="docker")


def test_a_broken_sandbox_is_an_error_not_a_verdict_on_the_program():
    from sandbox import SandboxError
    from sandbox.isolation import Isolation

    sandbox = Sandbox(Limits(timeout_s=5), isolation="none", workers=1)
    sandbox.isolation = Isolation(None, "/bin/false", "a runner that never starts")
    with pytest.raises(SandboxError, match="could not start its runner"):
        sandbox.run(ADD, CHECK, "add")


def test_a_run_that_writes_everything_and_ends_while_the_collector_waits_is_read_whole(any_sandbox, monkeypatch):
    """Under load, the thread collecting a run may get no core (or no GIL) between a select that
    timed out and its check whether the run ended; the run may write everything and end in that
    gap. Here the first select returns nothing only after the run has ended."""
    import os
    import selectors

    from sandbox import collect as collect_module
    from sandbox import run as run_module

    runs = []

    def recording(pid, *args):
        runs.append(pid)
        return collect_module.collect(pid, *args)

    class Late(selectors.DefaultSelector):
        late = 0

        def select(self, timeout=None):
            header_sent = all(key.events == selectors.EVENT_READ for key in self.get_map().values())
            if header_sent and not Late.late:
                Late.late += 1
                os.waitid(os.P_PID, runs[-1], os.WEXITED | os.WNOWAIT)  # until the run has ended, not reaping it
                return []
            return super().select(timeout)

    monkeypatch.setattr(run_module, "collect", recording)
    monkeypatch.setattr(collect_module.selectors, "DefaultSelector", Late)
    result = any_sandbox.run("print('hello')\n" + ADD, CHECK, "add")
    assert Late.late == 1 and result.status is Status.PASSED, result
    assert result.tests_passed == 2 and result.stdout == "hello\n"
