"""A user's test file importing the file under test (assistant/test_imports.py): which imports mean
it, and that in the real sandbox they give the candidate program."""

from __future__ import annotations

import pytest

from assistant.search import SearchedFunction, TestSuite
from assistant.test_imports import modules_under_test, with_module_aliases
from sandbox import Limits, Sandbox

DOC = 'def inc(x):\n    """Add one.\n    >>> inc(1)\n    2\n    """\n'
RIGHT = DOC + "    return x + 1\n\n\nSTEP = 1\n"
WRONG = DOC + "    return x\n"


@pytest.mark.parametrize(
    ("source", "stem", "expected"),
    [
        ("from inc_mod import inc\n", None, ("inc_mod",)),  # imports the function being written: no name needed
        ("from inc_mod import inc as f, STEP\n", "other", ("inc_mod",)),
        ("import inc_mod\n", "inc_mod", ("inc_mod",)),
        ("import src.inc_mod as m\n", "inc_mod", ("src.inc_mod",)),
        ("from pkg import inc_mod\n", "inc_mod", ("pkg.inc_mod",)),
        ("from pkg.inc_mod import STEP\n", "inc_mod", ("pkg.inc_mod",)),
        ("def test_a():\n    from inc_mod import STEP\n", "inc_mod", ("inc_mod",)),  # inside a test too
        ("import inc_mod\nfrom inc_mod import inc\n", "inc_mod", ("inc_mod",)),  # once
        ("import inc_mod\n", None, ()),  # the document's name is unknown (stdin)
        ("import os, math\nfrom collections import Counter\n", "inc_mod", ()),
        ("from .inc_mod import inc\n", "inc_mod", ("__guidecode_tests__.inc_mod",)),  # relative: in the stand-in package
        ("from .somewhere import inc\n", None, ("__guidecode_tests__.somewhere",)),
        ("from . import inc_mod\n", "inc_mod", ("__guidecode_tests__.inc_mod",)),
        ("from ..src.inc_mod import STEP\n", "inc_mod", ("__guidecode_tests__.src.inc_mod",)),
        ("from .helpers import make\n", "inc_mod", ()),
    ],
)
def test_the_imports_that_mean_the_file_under_test(source, stem, expected):
    assert modules_under_test(source, "inc", stem) == expected


def test_a_file_without_such_imports_is_run_as_written():
    source = "import math\n\ndef test_a():\n    assert inc(1) == 2\n"
    assert with_module_aliases(source, "inc", "inc_mod") == source


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    return Sandbox(Limits(timeout_s=10.0))


@pytest.mark.parametrize(
    "test_file",
    [
        "from inc_mod import inc, STEP\n\ndef test_two():\n    assert inc(2) == 2 + STEP\n",
        "import inc_mod\n\ndef test_two():\n    assert inc_mod.inc(2) == 3\n",
        "import pkg.inc_mod\nfrom pkg import inc_mod as m\n\ndef test_two():\n    assert pkg.inc_mod.inc(2) == m.inc(2) == 3\n",
        "from inc_mod import inc\nassert inc(0) == 1\n",
        "from .inc_mod import inc, STEP\n\ndef test_two():\n    assert inc(2) == 2 + STEP\n",
        "from . import inc_mod\n\ndef test_two():\n    assert inc_mod.inc(2) == 3\n",
        "from ..src.inc_mod import inc\n\ndef test_two():\n    assert inc(2) == 3\n",
    ],
)
def test_in_the_sandbox_the_imports_give_the_candidate(sandbox, test_file):
    suite = TestSuite.build(DOC, "inc", test_file, stem="inc_mod")
    right = sandbox.run(RIGHT, suite.source)
    assert right.passed, right.reason
    wrong = sandbox.run(WRONG, suite.source)  # the candidate, not some other copy, is what they test
    assert not wrong.passed and wrong.tests_passed == 0, wrong.reason


def test_the_users_line_numbers_are_kept():
    suite = TestSuite.build(DOC, "inc", "from inc_mod import inc\n\nassert inc(0) == 1\n", label="t.py", stem="inc_mod")
    assert suite.shown == ("inc(1) == 2", "t.py line 3")


def test_an_import_nothing_provides_stops_the_tests_and_says_so(sandbox):
    suite = TestSuite.build(DOC, "inc", "import not_a_module_here\n\ndef test_two():\n    assert inc(2) == 3\n", stem="inc_mod")
    run = sandbox.run(RIGHT, suite.source)
    assert run.tests_passed == 1 and "ModuleNotFoundError: No module named 'not_a_module_here'" in run.reason
    found = SearchedFunction(generated=None, result=None, run=run, tests=suite)  # what the front ends report of it
    assert found.passed == ("inc(1) == 2",)
    assert found.failures == (("test_two", "not run: the tests stopped: ModuleNotFoundError: No module named 'not_a_module_here'"),)


def test_a_relative_import_of_another_module_stops_the_tests_and_names_it_as_written(sandbox):
    suite = TestSuite.build(DOC, "inc", "from .helpers import make\n\ndef test_two():\n    assert inc(2) == 3\n", stem="inc_mod")
    run = sandbox.run(RIGHT, suite.source)
    found = SearchedFunction(generated=None, result=None, run=run, tests=suite)
    assert found.failures == (("test_two", "not run: the tests stopped: ModuleNotFoundError: No module named '.helpers'"),)


@pytest.mark.parametrize(
    ("source", "missing"),
    [
        ("def test_a(tmp_path):\n    pass\n", {"test_a": ("tmp_path",)}),
        ("def test_a(x=1, *, y=2):\n    pass\n", {}),
        ("import pytest\n\n@pytest.mark.parametrize('x,y', [(1, 2)])\ndef test_a(x, y, monkeypatch):\n    pass\n", {"test_a": ("monkeypatch",)}),
        ("@pytest.mark.parametrize(['x', 'y'], [(1, 2)])\ndef test_a(x, y):\n    pass\n", {}),
        ("@pytest.mark.parametrize(NAMES, VALUES)\ndef test_a(x, y):\n    pass\n", {}),  # only the run can tell
        ("def helper(x):\n    pass\n", {}),
        ("class TestA:\n    def test_a(self, tmp_path):\n        pass\n\n    def test_b(self):\n        pass\n", {"TestA::test_a": ("tmp_path",)}),
        ("@pytest.mark.parametrize('x', [1])\nclass TestA:\n    def test_a(self, x):\n        pass\n", {}),
    ],
)
def test_the_arguments_nothing_gives_a_test(source, missing):
    from sandbox.testplan import unprovided_arguments

    assert unprovided_arguments(source) == missing


def test_a_test_wanting_pytest_fixtures_is_refused_with_what_to_do():
    from assistant.errors import GuidecodeError

    with pytest.raises(GuidecodeError, match="test_a takes tmp_path, capsys.*parametrize"):
        TestSuite.build(DOC, "inc", "def test_a(tmp_path, capsys):\n    assert inc(1) == 2\n")


def test_the_language_server_names_the_module_after_the_documents_file(sandbox, tmp_path):
    from types import SimpleNamespace

    from lsp.generate import _tests
    from lsp.options import ServerOptions

    tests = tmp_path / "test_inc.py"
    tests.write_text("import inc_mod\n\ndef test_two():\n    assert inc_mod.inc(2) == 3\n")
    server = SimpleNamespace(service=SimpleNamespace(options=ServerOptions()))
    suite = _tests(server, (tmp_path / "inc_mod.py").as_uri(), DOC, DOC.index("Add"), {"tests": str(tests)})
    assert suite.shown == ("inc(1) == 2", "test_two") and sandbox.run(RIGHT, suite.source).passed
