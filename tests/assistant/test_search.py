"""Test-guided generation's front end: which tests a search runs, and `guidecode generate` with
tests, on the tiny random-weight model (what it writes fails; the plumbing is the point)."""

from __future__ import annotations

import json

import pytest
import torch

from assistant import Assistant
from assistant.cli import main
from assistant.errors import GuidecodeError
from assistant.loading import LoadedModel
from assistant.search import TestSuite, only_test, split_test_target

DOC = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n'
TESTS = "import math\n\nLIMIT = 3\nassert inc(0) == 1\n\ndef test_two():\n    assert inc(2) == 3\n\ndef test_big():\n    assert inc(10) == 11\n"


def test_the_suite_puts_the_docstring_examples_first_and_names_the_files_tests():
    suite = TestSuite.build(DOC, "inc", TESTS, label="test_inc.py")
    assert suite.shown == ("inc(1) == 2", "test_inc.py line 4", "test_two", "test_big")
    assert len(suite.names) == 4 and "LIMIT = 3" in suite.source
    assert TestSuite.build(DOC, "inc", TESTS, doctests=False).shown[0] == "tests line 4"
    assert TestSuite.build('def g():\n    """Nothing to see."""\n', "g").empty


def test_one_test_function_can_be_picked_pytest_style():
    assert split_test_target("t.py::test_two") == ("t.py", "test_two") and split_test_target("t.py") == ("t.py", None)
    kept = only_test(TESTS, "test_two")
    assert "def test_two" in kept and "test_big" not in kept and "assert inc(0)" not in kept
    assert "import math" in kept and "LIMIT = 3" in kept  # what the test may need stays
    with pytest.raises(GuidecodeError, match="no test function or class 'test_three'"):
        only_test(TESTS, "test_three")
    with pytest.raises(GuidecodeError, match="does not parse"):
        only_test("def test_(:\n", "test_")


CLASSES = (
    TESTS
    + "\nclass TestInc:\n    STEP = 1\n\n    def test_one(self):\n        assert inc(1) == 2\n\n    def test_zero(self):\n        assert inc(0) == self.STEP\n"
)


def test_a_test_class_or_one_of_its_methods_can_be_picked():
    assert split_test_target("t.py::TestInc::test_one") == ("t.py", "TestInc::test_one")
    whole = TestSuite.build(DOC, "inc", only_test(CLASSES, "TestInc"), doctests=False)
    assert whole.shown == ("TestInc::test_one", "TestInc::test_zero")
    one = only_test(CLASSES, "TestInc::test_zero")
    assert "test_one" not in one and "STEP = 1" in one and "test_two" not in one  # the class's other members stay
    assert TestSuite.build(DOC, "inc", one, doctests=False).shown == ("TestInc::test_zero",)
    with pytest.raises(GuidecodeError, match="no test method 'test_three' in a test class 'TestInc'"):
        only_test(CLASSES, "TestInc::test_three")
    with pytest.raises(GuidecodeError, match="no test method 'x' in a test class 'test_two'"):
        only_test(CLASSES, "test_two::x")


@pytest.fixture
def tiny(monkeypatch, tiny_model, byte_tokenizer):
    loaded = LoadedModel(tiny_model, byte_tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    monkeypatch.setattr(Assistant, "load", classmethod(lambda cls, config, progress=None: cls(loaded, config)))


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_generate_searches_and_reports_each_test(capsys, tmp_path, tiny):
    source, tests = tmp_path / "inc.py", tmp_path / "test_inc.py"
    source.write_text(DOC)
    tests.write_text(TESTS)
    code, out, err = run(capsys, "generate", source, "--tests", f"{tests}::test_two", "--rollouts", 2, "--max-tokens", 6, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "inc" and result["function"].startswith(DOC.rstrip("\n"))
    search = result["search"]
    assert (search["rollouts"], search["stopped"], search["passed"]) == (2, "rollouts", [])
    assert search["failed"] == ["inc(1) == 2", "test_two"]
    assert source.read_text() == DOC  # the user's file is not written


def test_generate_without_search_or_with_bad_tests(capsys, tmp_path, tiny):
    source = tmp_path / "inc.py"
    source.write_text(DOC)
    code, out, _ = run(capsys, "generate", source, "--no-search", "--max-tokens", 4, "--json")
    assert code == 0 and "search" not in json.loads(out)
    code, _, err = run(capsys, "generate", source, "--tests", tmp_path / "missing.py")
    assert code == 1 and "file not found" in err
    empty = tmp_path / "test_empty.py"
    empty.write_text("import os\n")
    code, _, err = run(capsys, "generate", source, "--tests", empty, "--no-doctests")
    assert code == 1 and "holds no test" in err
    code, _, err = run(capsys, "generate", source, "--rollout-temperature", "-0.5")
    assert code == 2 and "--rollout-temperature: must be a number from 0 to 2, got '-0.5'" in err


def test_generate_searches_with_greedy_rollouts_on_request(capsys, tmp_path, tiny, monkeypatch):
    import assistant.search as search_module

    seen = []
    real_plan = search_module.plan
    monkeypatch.setattr(search_module, "plan", lambda *a, **k: seen.append(a[5]) or real_plan(*a, **k))
    source = tmp_path / "inc.py"
    source.write_text(DOC)
    for given, temperature in ((("--rollout-temperature", "0"), 0.0), ((), 0.8)):
        code, _, err = run(capsys, "generate", source, "--rollouts", 2, "--max-tokens", 4, "--json", *given)
        assert code == 0, err
        assert (seen[-1].temperature, seen[-1].top_p) == (temperature, 0.95)


def test_generate_says_why_each_test_failed(capsys, tmp_path, tiny):
    source, tests = tmp_path / "inc.py", tmp_path / "test_inc.py"
    source.write_text(DOC)
    tests.write_text("from inc import inc\n\ndef test_two():\n    assert inc(2) == 3\n\ndef test_big():\n    assert inc(10) == 11\n")
    code, out, err = run(capsys, "generate", source, "--tests", tests, "--no-doctests", "--rollouts", 1, "--max-tokens", 6, "--json")
    assert code == 0, err
    failures = json.loads(out)["search"]["failures"]
    # The random-weight model's body does not even load: each test says so (the sandbox's words)
    assert [f["test"] for f in failures] == ["test_two", "test_big"]
    assert all(f["detail"].startswith("not run: the program did not load: ") for f in failures)
    code, _, err = run(capsys, "generate", source, "--tests", tests, "--no-doctests", "--rollouts", 1, "--max-tokens", 6)
    lines = [line for line in err.splitlines() if line.startswith("failed")]
    assert code == 0 and lines[0].startswith("failed test_two: not run: the program did not load") and lines[1] == "failed test_big"


def test_a_test_file_that_cannot_import_in_the_sandbox_is_refused_before_the_search(capsys, tmp_path, tiny, monkeypatch):
    import assistant.search as search_module

    monkeypatch.setattr(search_module, "plan", lambda *a, **k: pytest.fail("the search ran"))
    source, tests = tmp_path / "inc.py", tmp_path / "test_inc.py"
    source.write_text(DOC)
    tests.write_text("import not_a_module_here\nfrom inc import inc\n\ndef test_two():\n    assert inc(2) == 3\n")
    code, _, err = run(capsys, "generate", source, "--tests", tests, "--rollouts", 2)
    assert (
        code == 1
        and "the test file cannot run in the sandbox, whatever the body: ModuleNotFoundError: No module named 'not_a_module_here'. The sandbox runs "
        in " ".join(err.split())
    )
    tests.write_text("from .helpers import make\nfrom .inc import inc\n\ndef test_two():\n    assert inc(2) == make(3)\n")
    code, _, err = run(capsys, "generate", source, "--tests", tests, "--rollouts", 2)
    assert code == 1 and "No module named '.helpers'. Of your project, the sandbox holds only the file under test" in " ".join(err.split())
