"""Test-guided generation: write a function body by planning search (decoders/planning.py), each
candidate program scored by running it against the public tests in the sandbox.

The tests are the examples in the function's docstring (assistant/public_tests.py), a test file
the user names (pytest style: top-level asserts and `test_*` functions, run in the program's
namespace, so they call its functions by name; its imports of the file under test give the
candidate, see assistant/test_imports.py), or both. The program a candidate is run as is
the whole document with the new body in place; the document itself is never written.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeGuard

from decoders import GenerationResult
from decoders.planning import PlanningConfig, Program, Scored, SearchResult, plan
from sandbox import Outcome, RunResult, Sandbox, TestOutcome
from sandbox.testplan import holds_assert, is_test_class, is_test_function, test_names, unprovided_arguments

from .assistant import Completion, GeneratedFunction
from .errors import GuidecodeError
from .public_tests import PublicTests, docstring_tests
from .test_imports import shown_module, with_module_aliases

if TYPE_CHECKING:
    from decoders import CancelFlag

    from .assistant import Assistant
    from .functions import FunctionSlot


@dataclass(frozen=True)
class TestSuite:
    """The public tests a search runs candidates against."""

    __test__ = False  # not a pytest class

    source: str  # a test file: top-level asserts and test functions
    names: tuple[str, ...]  # its tests, in order ("line 3", "test_add", ...)
    shown: tuple[str, ...]  # each as a user reads it (an example's text, else its name)
    from_file: bool = False  # holds a test file of the user's (not only the docstring's examples)

    @classmethod
    def build(
        cls,
        document: str,
        entry_point: str,
        test_file: str | None = None,
        doctests: bool = True,
        label: str = "tests",
        stem: str | None = None,
    ) -> TestSuite:
        """The docstring's examples (unless `doctests` is off) followed by `test_file`'s tests,
        which are shown by their name in that file ("test_add", "<label> line 3"). `stem` names
        the document's module (lib.py: "lib"), which the test file may import."""
        examples = docstring_tests(document, entry_point) if doctests else PublicTests("", ())
        try:
            own = test_names(test_file, None) if test_file else ()
            if test_file:
                _check_arguments(test_file, label)
            run_as = with_module_aliases(test_file, entry_point, stem) if test_file else None
            parts = [part for part in (examples.source, run_as) if part]
            source = "\n\n".join(part.rstrip("\n") for part in parts) + "\n" if parts else ""
            names = test_names(source, None) if source else ()
        except SyntaxError as error:
            raise GuidecodeError(f"the {label} file does not parse: {error.msg} (line {error.lineno})") from None
        if not source:
            return cls("", (), ())
        # The examples hold only asserts, and come first: the file's tests follow them in order.
        shown = examples.examples + tuple(f"{label} {name}" if name.startswith("line ") else name for name in own)
        return cls(source, names, shown, test_file is not None)

    @classmethod
    def load(
        cls,
        document: str,
        entry_point: str,
        target: str | None,
        read: Callable[[Path], str],
        doctests: bool = True,
        stem: str | None = None,
    ) -> TestSuite:
        """`build` with the test file `target` names (`path` or `path::test_name`), read by `read`."""
        if not target:
            return cls.build(document, entry_point, None, doctests)
        path, name = split_test_target(target)
        test_file = read(Path(path))
        kept = only_test(test_file, name) if name else test_file
        return cls.build(document, entry_point, kept, doctests, Path(path).name, stem)

    @property
    def empty(self) -> bool:
        return not self.names


def split_test_target(target: str) -> tuple[str, str | None]:
    """`tests.py::test_name` (or `::TestClass`, `::TestClass::test_name`) as (path, name),
    pytest's spelling; a plain path as (path, None)."""
    path, sep, name = target.partition("::")
    return (path, name) if sep and name else (target, None)


def only_test(source: str, name: str) -> str:
    """`source` with only the test `name` kept: a test function, a test class, or one method of
    one ("TestClass::test_name"). Other tests and top-level asserts go; everything else (imports,
    helpers, constants, a kept class's other members) stays."""
    try:
        module = ast.parse(source)
    except SyntaxError as error:
        raise GuidecodeError(f"the test file does not parse: {error.msg} (line {error.lineno})") from None
    owner, _, method = name.partition("::")
    if not any(_is_test(node) and node.name == owner for node in module.body):
        raise GuidecodeError(f"no test function or class {owner!r} in the test file")
    module.body = [n for n in module.body if (_is_test(n) and n.name == owner) or not (_is_test(n) or holds_assert(n))]
    if method:
        kept = next(n for n in module.body if _is_test(n))
        if not isinstance(kept, ast.ClassDef) or not any(_is_test_function(n) and n.name == method for n in kept.body):
            raise GuidecodeError(f"no test method {method!r} in a test class {owner!r} in the test file")
        kept.body = [n for n in kept.body if not _is_test_function(n) or n.name == method]
    return ast.unparse(module) + "\n"


# TypeGuards over sandbox.testplan's predicates, so that a test's `name` type-checks.
def _is_test(node: ast.stmt) -> TypeGuard[ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef]:
    return is_test_function(node) or is_test_class(node)


def _is_test_function(node: ast.stmt) -> TypeGuard[ast.FunctionDef | ast.AsyncFunctionDef]:
    return is_test_function(node)


def _check_arguments(test_file: str, label: str) -> None:
    """Refuses test functions that want pytest fixtures: the sandbox runs each with no arguments
    or with its parametrize cases, so they would fail whatever the body."""
    missing = unprovided_arguments(test_file)
    if missing:
        wants = "; ".join(f"{name} takes {', '.join(args)}" for name, args in missing.items())
        raise GuidecodeError(
            f"the {label} file's tests want arguments nothing gives them in the sandbox ({wants}): pytest would look "
            "for fixtures of those names, and the sandbox runs a test with no arguments or with its "
            "@pytest.mark.parametrize cases. Build the values in the test, or parametrize them"
        )


@dataclass(frozen=True)
class SearchedFunction:
    generated: GeneratedFunction  # the best program's function; its completion's seconds are the whole search's
    result: SearchResult
    run: RunResult | None  # the best program's run against the public tests
    tests: TestSuite

    def report(self) -> dict:
        """What the front ends print of the search (`--json`, the LSP command's answer)."""
        result = self.result
        return {
            "rollouts": result.rollouts,
            "programs_run": len(result.programs),
            "stopped": result.stopped,
            "passed": list(self.passed),
            "failed": list(self.failed),
            "seconds": round(result.seconds, 3),
            "failures": [{"test": shown, "detail": detail} for shown, detail in self.failures],
        }

    @property
    def passed(self) -> tuple[str, ...]:
        return tuple(shown for shown, outcome, _ in self._outcomes if outcome == Outcome.PASSED)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(shown for shown, _ in self.failures)

    @property
    def failures(self) -> tuple[tuple[str, str], ...]:
        """Each failing test and why, in one line: its exception, or why it did not run (the
        program did not load, or the test file stopped before it: an import, a fixture)."""
        return tuple((shown, detail) for shown, outcome, detail in self._outcomes if outcome != Outcome.PASSED)

    @cached_property  # report() reads it three times; the instance is frozen, so once is right
    def _outcomes(self) -> tuple[tuple[str, Outcome | None, str], ...]:
        """(shown name, outcome or None if absent, why it did not pass or "") per public test."""
        got = {t.name: t for t in self.run.tests} if self.run is not None else {}
        outcomes = []
        for name, shown in zip(self.tests.names, self.tests.shown):
            test = got.get(name)
            outcome = test.outcome if test is not None else None
            why = "" if outcome is Outcome.PASSED else _why(test, self.run)
            outcomes.append((shown, outcome, why))
        return tuple(outcomes)


def _why(test: TestOutcome | None, run: RunResult | None) -> str:
    if test is None or run is None:
        return "not run"
    if test.outcome is not Outcome.NOT_RUN:
        return test.detail
    if run.load_error:
        return f"not run: the program did not load: {run.load_error}"
    if run.tests_error:
        return f"not run: the tests stopped: {shown_module(run.tests_error)}"
    return f"not run: {run.reason}"  # a limit, or the run ending early


@dataclass
class Scorer:
    """The search's reward: the share of public tests a body passes, less an optional brevity
    cost (`brevity` per 100 characters of body), which only ranks programs passing as many."""

    tests: TestSuite
    program_of: Callable[[str], str]  # generated text -> the program to run
    sandbox: Sandbox
    brevity: float = 0.0
    runs: dict[str, RunResult] = field(default_factory=dict)  # by generated text

    def __call__(self, text: str) -> Scored:
        result = self.sandbox.run(self.program_of(text), self.tests.source)
        self.runs[text] = result
        passed = sum(t.outcome == Outcome.PASSED for t in result.tests if t.name in self.tests.names)
        share = passed / len(self.tests.names)
        return Scored(share - self.brevity * len(text) / 100, passed == len(self.tests.names), passed)


def _check_runnable(slot: FunctionSlot, tests: TestSuite, sandbox: Sandbox) -> None:
    """Refuses a test file that stops on an import the sandbox cannot satisfy whatever the body
    is (a module missing from its environment, or one beside the test file), before any program is
    written for it. Run once with `pass` as the body; a document that does not load then says
    nothing either way."""
    run = sandbox.run(slot.program(slot.body("pass")), tests.source)
    if not run.tests_error.startswith("ModuleNotFoundError"):
        return
    stopped = shown_module(run.tests_error)
    if stopped != run.tests_error:  # a relative import of the user's project
        fix = (
            "Of your project, the sandbox holds only the file under test (as the program being written): "
            "move what the tests need from that module into the test file, or drop the import"
        )
    elif "'pytest'" in stopped:
        fix = "Install pytest in guidecode's Python environment (pip install pytest): the sandbox gives runs a copy of it"
    else:
        fix = (
            f"The sandbox runs {sandbox.isolation.interpreter} with its standard library (and pytest, from guidecode's "
            "environment): move what the tests need into the test file, or drop the import"
        )
    raise GuidecodeError(f"the test file cannot run in the sandbox, whatever the body: {stopped}. {fix}")


def search_function(
    assistant: Assistant,
    slot: FunctionSlot,
    tests: TestSuite,
    sandbox: Sandbox,
    config: PlanningConfig = PlanningConfig(),
    brevity: float = 0.0,
    cancel: CancelFlag | None = None,
    on_rollout: Callable[[int, Program], None] | None = None,
    workspace: str | Path | None = None,
    path: str | Path | None = None,
) -> SearchedFunction | None:
    """The body of `slot`'s function that passes most of `tests`, by planning search; None when
    cancelled before a first program was written."""
    if tests.empty:
        raise GuidecodeError("a test-guided search needs tests: examples in the docstring, or a test file (--tests)")
    if tests.from_file:
        _check_runnable(slot, tests, sandbox)
    request = assistant.prepare(slot.document, slot.cursor, None, None, cancel, workspace, path)
    if isinstance(request, Completion):  # cancelled during the prefill
        return None
    scorer = Scorer(tests, lambda text: slot.program(slot.body(request.written(text))), sandbox, brevity)
    result = plan(
        assistant.engine,
        request.session,
        assistant.loaded.tokenizer,
        request.stop,
        scorer,
        config,
        request.guide,
        assistant.drafter(),
        cancel,
        on_rollout,
    )
    if result.best is None:
        return None
    best = result.best
    generation = GenerationResult(best.text, list(best.tokens), best.stop_reason, result.seconds, len(request.prompt), result.forward_passes)
    completion = assistant.completion_for(request, generation, None)
    function = slot.head + slot.body(completion.text)
    generated = GeneratedFunction(function, slot.body(completion.text), slot.name, completion, slot.replaced)
    return SearchedFunction(generated, result, scorer.runs.get(best.text), tests)
