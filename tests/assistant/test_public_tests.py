"""Public tests: the examples of a function's docstring as a test file, checked format by format,
and on HumanEval, where every canonical solution must pass the tests read from its own prompt."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.evaluation.datasets import load_dataset
from assistant.public_tests import SAME, PublicTests, docstring_tests
from sandbox import Job, Limits, Outcome, Sandbox, testplan


def doc(body: str, name: str = "f", indent: str = "    ") -> str:
    """A function `name` whose docstring holds `body` (lines indented by `indent`)."""
    lines = "".join(f"{indent}{line}\n" if line else "\n" for line in body.split("\n"))
    return f'def {name}(x, y=0):\n{indent}"""Does things.\n{lines}{indent}"""\n'


def asserts(tests: PublicTests) -> list[str]:
    return [line for line in tests.source.splitlines() if line.startswith("assert ")]


def run_locally(program: str, tests: PublicTests) -> None:
    """Our own programs and tests, run in this process: raises where a test fails."""
    namespace: dict[str, object] = {}
    exec(program, namespace)
    exec(tests.source, namespace)


def well_formed(tests: PublicTests) -> bool:
    return len(testplan.test_names(tests.source, None)) == len(tests.examples) and (tests.source == "") == tests.empty


# Doctests


def test_doctest_examples_become_asserts_in_order():
    tests = docstring_tests(doc(">>> f(2, 3)\n5\n>>> f(-1)\n[1, 'a']\n>>> f(\n...     0)\n{'k': (1, 2)}"), "f")
    assert tests.examples == ("f(2, 3) == 5", "f(-1) == [1, 'a']", "f(0) == {'k': (1, 2)}")
    assert asserts(tests) == [f"assert {SAME}(f(2, 3), 5)", f"assert {SAME}(f(-1), [1, 'a'])", f"assert {SAME}(f(0), {{'k': (1, 2)}})"]
    assert well_formed(tests) and not tests.empty


def test_statements_without_output_are_setup_kept_in_place():
    tests = docstring_tests(doc(">>> xs = [3, 1]\n>>> f(xs)\n4\n>>> xs.append(2)\n>>> f(xs)\n6"), "f")
    assert tests.examples == ("f(xs) == 4", "f(xs) == 6")
    body = tests.source.splitlines()
    assert body.index("xs = [3, 1]") < body.index(f"assert {SAME}(f(xs), 4)") < body.index("xs.append(2)") < body.index(f"assert {SAME}(f(xs), 6)")
    run_locally("def f(xs):\n    return sum(xs)\n", tests)
    assert well_formed(tests)


def test_a_call_without_output_shows_none_and_a_comparison_without_output_is_an_assert():
    tests = docstring_tests(doc(">>> f([])\n>>> f(1) == 2"), "f")
    assert tests.examples == ("f([]) == None", "f(1) == 2")


def test_outputs_that_are_not_values_are_skipped():
    body = (
        ">>> f(1)\nhello world\n>>> f(2)\nhello\n>>> f(3)\nTraceback (most recent call last):\n  ...\nValueError: no\n"
        ">>> print(f(4))\n4\n>>> f(5)  # doctest: +ELLIPSIS\n[1, ..., 9]\n>>> f(6)\n[1, ..., 9]\n>>> f(7)\n<BLANKLINE>\n>>> f(9)\n3 = 3.\n>>> f(10)\ntrue\n>>> f(8)\n8"
    )
    assert docstring_tests(doc(body), "f").examples == ("f(8) == 8",)


def test_a_docstring_with_escapes_that_break_doctest_is_read_as_written():
    # HumanEval/51: `"a\nb"` in a plain docstring is a real newline there, which doctest rejects.
    text = 'def f(s):\n    """Drop vowels.\n    >>> f("abc\\nde")\n    \'bc\\nd\'\n    >>> f("a")\n    \'\'\n    """\n'
    tests = docstring_tests(text, "f")
    assert tests.examples == ("f('abc\\nde') == 'bc\\nd'", "f('a') == ''")
    run_locally("def f(s):\n    return ''.join(c for c in s if c not in 'aeiou')\n", tests)


# Calls shown with their result


@pytest.mark.parametrize(
    "line",
    [
        "f(1, 2) == [3]",
        "f(1, 2) ➞ [3]",
        "f(1, 2) => [3]",
        "f(1, 2) -> [3]",
        "f(1, 2) ==> [3]",
        "f(1, 2) → [3]",
        "f(1, 2) = [3]",
        "f(1, 2)==>[3]",
        "f(1, 2) should return [3].",
        "f(1, 2) returns [3]",
        "f(1, 2) return [3],",
        "f(1, 2)   # returns [3]",
        "f(1, 2) # => [3] (because 1 + 2 = 3)",
        "* f(1, 2) => [3]",
        "for f(1, 2) == [3]",
        "Example: f(1, 2) -> [3]",
        "f(1, 2) -> 1 + 2 = [3]",
    ],
)
def test_a_call_shown_with_its_result(line):
    tests = docstring_tests(doc(f"Example:\n    {line}\nThat is all."), "f")
    assert tests.examples == ("f(1, 2) == [3]",), tests.source
    assert well_formed(tests)


def test_results_written_as_prose_constants_and_strings_with_separators():
    body = 'f(1) => true\nf(2) ➞ false.\nf("a->b") -> "b=>a"\nf(3) == None'
    assert docstring_tests(doc(body), "f").examples == ("f(1) == True", "f(2) == False", "f('a->b') == 'b=>a'", "f(3) == None")


def test_a_call_spread_over_lines_while_its_brackets_are_open():
    body = "f([\n  [1, 2],\n  [3, 4]\n], 1) == [(0, 0)]\nf('(') == 1"
    assert docstring_tests(doc(body), "f").examples == ("f([[1, 2], [3, 4]], 1) == [(0, 0)]", "f('(') == 1")


def test_lines_that_are_not_examples_give_nothing():
    body = 'Returns true if x is big.\nf(x) = 1 + x / 2, if x is even.\nf(n) = f(n - 1) + f(n - 2)\nf(1) => a list of words\nf(2) == ""broken"'
    assert docstring_tests(doc(body), "f").empty


# Labelled examples


def test_an_assert_without_a_result_to_compare_is_kept_as_written():
    tests = docstring_tests(doc("assert math.isclose(f(10), 4188.79, rel_tol=0.001)"), "f")
    assert asserts(tests) == ["assert math.isclose(f(10), 4188.79, rel_tol=0.001)"] and well_formed(tests)
    assert tests.examples == ("math.isclose(f(10), 4188.79, rel_tol=0.001)",)
    # The module it names is imported for it: the function's code need not import math.
    run_locally("def f(x, y=0):\n    return 4 / 3 * 3.14159265 * x**3\n", tests)


def test_an_assert_with_a_result_is_compared_like_any_shown_call():
    tests = docstring_tests(doc("assert set(f((3, 4), (4, 5))) == set((4,))"), "f")
    assert asserts(tests) == [f"assert {SAME}(set(f((3, 4), (4, 5))), set((4,)))"]


def test_an_assert_spread_over_lines_and_asserts_of_other_things():
    body = "assert all(f(x) > 0\n           for x in (1, 2))\nassert g(1) == 2\nassert True"
    tests = docstring_tests(doc(body), "f")
    assert asserts(tests) == ["assert all((f(x) > 0 for x in (1, 2)))"] and well_formed(tests)
    namespace: dict[str, object] = {}
    exec("def f(x):\n    return x\n" + tests.source, namespace)  # passes: every f(x) is positive


def test_input_and_output_labels_become_a_call():
    body = "Example 1:\n    Input: [4, 2]\n    Output: [2, 1]\nExample 2:\n    Input: x = 3, y = 4\n    Output: 7 # 3 + 4\n    Input:\n        x : 1\n    Output: 1"
    tests = docstring_tests(doc(body), "f")
    assert tests.examples == ("f([4, 2]) == [2, 1]", "f(x=3, y=4) == 7")
    run_locally("def f(x, y=0):\n    return x + y if y else [2, 1]\n", tests)


def test_for_arguments_the_output_should_be():
    body = 'For x = [1, 2] the output should be 3\nFor x = "ab", y = 2, the result should be (\'ab\', 2).\nFor N = 1000, the sum is 1 the output should be "1".'
    assert docstring_tests(doc(body), "f").examples == ("f(x=[1, 2]) == 3", "f(x='ab', y=2) == ('ab', 2)")


def test_arguments_cannot_close_the_call_early():
    assert docstring_tests(doc("Input: 1), print(2\nOutput: 1"), "f").empty


# Which examples, and how many


def test_examples_of_other_functions_are_ignored():
    text = 'def g(x):\n    """\n    >>> g(1)\n    2\n    """\n\n\n' + doc(
        ">>> g(1)\n2\n>>> f(g(1))\n3\n>>> obj.f(1)\n4\n\ng(2) == 3\nother_f(1) == 2\nf (5) == 6"
    )
    assert docstring_tests(text, "f").examples == ("f(g(1)) == 3", "obj.f(1) == 4", "f(5) == 6")
    assert docstring_tests(text, "g").examples == ("g(1) == 2",)


def test_identical_examples_are_kept_once():
    tests = docstring_tests(doc(">>> f(1)\n2\n>>> f(1)\n2\n\nf(1) == 2\nf(1)  ==  2\nf(1) -> 3"), "f")
    assert tests.examples == ("f(1) == 2", "f(1) == 3")
    assert well_formed(tests)


def test_indentation_does_not_matter():
    body = ">>> f(1)\n2\n\nf(2) == 3\nInput: 4\nOutput: 5"
    flat = docstring_tests('def f(x, y=0):\n    """Does things.\n' + body + '\n"""\n', "f")  # lines at column 0
    nested = docstring_tests("class A:\n    class B:\n" + "".join("        " + l + "\n" for l in doc(body, indent="      ").splitlines()), "f")
    assert flat.examples == nested.examples == ("f(1) == 2", "f(2) == 3", "f(4) == 5")
    assert flat.source == nested.source


@pytest.mark.parametrize(
    "text",
    [
        "def f(x):\n    return x\n",  # no docstring
        'def f(x):\n    y = 1\n    """f(1) == 2"""\n',  # a string that is not the first statement
        'def g(x):\n    """f(1) == 2"""\n',  # no such function
        "",
        'def f(x):\n    """"""\n',
    ],
)
def test_no_docstring_or_no_examples_gives_empty_tests(text):
    tests = docstring_tests(text, "f")
    assert tests.empty and tests.source == "" and tests.examples == ()


@pytest.mark.parametrize(
    "body",
    [
        ">>>f(1)\n2",  # doctest rejects a prompt without its space
        ">>> f(1\n2",
        ">>> f(1)\n  2\n 3",
        ">>> assert f(1) == 2\n>>> def test_f():\n...     assert f(1) == 2\n>>> f(1)\n2",  # would-be tests are not setup
        ">>> def check(candidate):\n...     pass\n>>> f(1)\n2",
        "f(" * 200 + "1" + ")" * 200 + " == 2",
        "f([" + "[" * 50 + "\n" * 30 + "]) == 1",
        "word " * 300 + "f(1) == 2 " + "= " * 300,  # prose and separators: parses are bounded per line
        "Input: \x00\nOutput: 1",
        ">>> f('\\u00e9')\n'é'",
        "f(1) == 2 == 3\nf() ➞\n➞ 3\nf(1) returns returns",
    ],
)
def test_odd_docstrings_never_raise_and_stay_well_formed(body):
    tests = docstring_tests(doc(body), "f")
    assert well_formed(tests)


def test_broken_documents_never_raise():
    for text in [
        'def f(x):\n    """never closed\n    >>> f(1)\n    2\n',
        "def f(:\n    'f(1) == 2'\n",
        'def f(x):\n    b"f(1) == 2"\n',
        'def f(x):\n    f"{x}(1) == 2"\n',
    ]:
        assert well_formed(docstring_tests(text, "f"))


# The comparison


@pytest.mark.parametrize(
    ("returned", "shown", "same"),
    [
        ("0.1 + 0.2", "0.3", True),
        ("[1.0000001, (2.0, 'a')]", "[1.0, (2, 'a')]", True),
        ("1e9 + 0.5", "1e9", True),  # relative
        ("1e-9", "0", True),  # absolute
        ("0.3001", "0.3", False),
        ("[1.0, 2.0]", "(1.0, 2.0)", False),
        ("[1.0]", "[1.0, 2.0]", False),
        ("'1.0'", "1.0", False),
        ("None", "0.0", False),
        ("{'a': 1}", "{'a': 1}", True),
    ],
)
def test_results_are_compared_with_a_tolerance_for_floats(returned, shown, same):
    tests = docstring_tests(doc(f">>> f(0)\n{shown}"), "f")
    assert len(tests.examples) == 1
    if same:
        run_locally(f"def f(x):\n    return {returned}\n", tests)
    else:
        with pytest.raises(AssertionError):
            run_locally(f"def f(x):\n    return {returned}\n", tests)


def test_the_comparison_helper_is_setup_not_a_test():
    tests = docstring_tests(doc(">>> f(1)\n2"), "f")
    assert tests.source.startswith(f"def {SAME}(") and testplan.test_names(tests.source, None) == ("line 10",)


# HumanEval, run in the sandbox

# Tasks whose docstring examples are wrong (each read in the prompt), and how many of their tests fail.
KNOWN_WRONG = {
    "HumanEval/47": (1, "median([-10, 4, 6, 1000, 10, 20]) is shown as 15.0; the median is 8.0"),
    "HumanEval/80": (6, "is_happy(a), is_happy(aa), ... pass bare names where strings are meant"),
    "HumanEval/116": (3, "the examples contradict the task (sort by number of ones: [1, 2, 4, 3, 5]); the third lacks its `==`"),
    "HumanEval/130": (3, "tri(1) = 3, tri(2) = 2, tri(4) = 3 describe terms of the sequence; tri(n) returns a list"),
    "HumanEval/148": (1, 'bf("Earth", "Mercury") ==> ("Venus") shows a string where a 1-tuple is meant'),
}
TASKS_WITH_EXAMPLES = 154  # of 164; measured
EXAMPLES = 450  # measured


@pytest.fixture(scope="module")
def humaneval():
    tasks = load_dataset("humaneval").tasks
    return [(task, docstring_tests(task.prompt, task.entry_point)) for task in tasks]


def test_most_humaneval_prompts_have_public_tests(humaneval):
    assert len(humaneval) == 164
    assert sum(not tests.empty for _, tests in humaneval) >= TASKS_WITH_EXAMPLES
    assert sum(len(tests.examples) for _, tests in humaneval) >= EXAMPLES
    assert all(well_formed(tests) for _, tests in humaneval)


def test_canonical_humaneval_solutions_pass_their_public_tests(humaneval):
    sandbox = Sandbox(Limits(timeout_s=10.0), workers=4)
    runs = [(task, tests) for task, tests in humaneval if not tests.empty]
    results = dict(sandbox.run_many(Job(task.prompt + task.canonical_solution, tests.source) for task, tests in runs))
    failing = {}
    for i, (task, _) in enumerate(runs):
        bad = [t for t in results[i].tests if t.outcome is not Outcome.PASSED]
        if bad or not results[i].passed:
            failing[task.task_id] = (len(bad), f"{results[i].status.value}: {results[i].reason}; {[t.detail for t in bad][:3]}")
    assert {k: n for k, (n, _) in failing.items()} == {k: n for k, (n, _) in KNOWN_WRONG.items()}, failing


# The MBPP development set: one `assert` line per docstring, some comparing floats with math.isclose

MBPP_DEV = Path(__file__).parents[2] / "benchmarks" / "data" / "mbpp-dev.jsonl"


def test_every_mbpp_dev_task_has_public_tests_its_reference_solution_passes():
    tasks = load_dataset(str(MBPP_DEV)).tasks
    suites = [docstring_tests(task.prompt, task.entry_point) for task in tasks]
    assert len(tasks) == 218 and all(len(tests.examples) == 1 and well_formed(tests) for tests in suites)
    sandbox = Sandbox(Limits(timeout_s=10.0), workers=4)
    results = dict(sandbox.run_many(Job(task.canonical_solution, tests.source) for task, tests in zip(tasks, suites)))
    assert [tasks[i].task_id for i, result in results.items() if not result.passed] == []
