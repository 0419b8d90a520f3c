"""Which tests a test file holds, and the test file rewritten so each test reports its own outcome.

Standard library only: the sandbox's runner (sandbox/child.py) imports this inside the sandbox, and
the parent uses the same plan to know which tests must report before a run may count as a pass.

A test is, in source order:
- a top-level statement that is or holds an `assert` ("line N"): an assert, or a loop of them;
- a top-level function named `test*`, called with no arguments (its name);
- with an entry point, such a statement in the body of `check(candidate)` ("check line N"):
  HumanEval's format, where one `check` holds all of a task's asserts (some in a loop); `check`
  is then called with the program's entry point.
"""

from __future__ import annotations

import ast

REPORT = "__guidecode_report__"  # the name the rewritten tests call; injected by the runner
PROGRAM_TEST = "program"  # with no tests, running the program is the one test


def holds_assert(node: ast.stmt) -> bool:
    """Whether `node` is or holds an assert of its own (not one inside a nested def or class)."""
    if isinstance(node, ast.Assert):
        return True
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    return any(holds_assert(child) for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))


def is_test_function(node: ast.stmt) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test")


def _check_function(module: ast.Module, entry_point: str | None) -> ast.FunctionDef | None:
    if entry_point is None:
        return None
    found = [n for n in module.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    return found[-1] if found else None


def parse(tests: str) -> ast.Module:
    return ast.parse(tests, filename="tests.py")


def test_names(tests: str | None, entry_point: str | None) -> tuple[str, ...]:
    """Every test the file holds, in the order they run. Raises SyntaxError for a malformed file."""
    if tests is None:
        return (PROGRAM_TEST,)
    module = parse(tests)
    names = [f"line {n.lineno}" for n in module.body if holds_assert(n)]
    names += [n.name for n in module.body if is_test_function(n) and isinstance(n, ast.FunctionDef)]
    check = _check_function(module, entry_point)
    if check is not None:
        names += [f"check line {n.lineno}" for n in check.body if holds_assert(n)]
    return tuple(names)


def test_functions(module: ast.Module) -> tuple[str, ...]:
    return tuple(n.name for n in module.body if is_test_function(n) and isinstance(n, ast.FunctionDef))


def _reporting(test: ast.stmt, name: str) -> ast.stmt:
    """`test` as: try: test / except BaseException as e: report(name, e) / else: report(name, None)."""
    call = lambda arg: ast.Expr(ast.Call(ast.Name(REPORT, ast.Load()), [ast.Constant(name), arg], []))  # noqa: E731
    handler = ast.ExceptHandler(ast.Name("BaseException", ast.Load()), "__guidecode_error__", [call(ast.Name("__guidecode_error__", ast.Load()))])
    return ast.Try(body=[test], handlers=[handler], orelse=[call(ast.Constant(None))], finalbody=[])


def instrument(tests: str, entry_point: str | None) -> ast.Module:
    """The test file with every assert-test rewritten to report its outcome (test functions and
    `check` are called by the runner). Line numbers are kept, so tracebacks point at the file."""
    module = parse(tests)
    module.body = [_reporting(n, f"line {n.lineno}") if holds_assert(n) else n for n in module.body]
    check = _check_function(module, entry_point)
    if check is not None:
        check.body = [_reporting(n, f"check line {n.lineno}") if holds_assert(n) else n for n in check.body]
    return ast.fix_missing_locations(module)


def has_check(module: ast.Module, entry_point: str | None) -> bool:
    return _check_function(module, entry_point) is not None
