"""Which tests a test file holds, and the test file rewritten so each test reports its own outcome.

Standard library only: the sandbox's runner (sandbox/child.py) imports this inside the sandbox, and
the parent uses the same plan to know which tests must report before a run may count as a pass.

A test is, in source order:
- a top-level statement that is or holds an `assert` ("line N"): an assert, or a loop of them;
- a top-level function named `test*`, called with no arguments, or once per case of its
  `@pytest.mark.parametrize` marks (its name: one test, passing when every case passes); one
  marked `@pytest.mark.skip` or `xfail` is no test;
- a `test*` method of a top-level class named `Test*` without an `__init__` (pytest's rule),
  called on a fresh instance per case, between its `setup_method` and `teardown_method` if it
  has them ("TestClass::test_method");
- with an entry point, such a statement in the body of `check(candidate)` ("check line N"):
  HumanEval's format, where one `check` holds all of a task's asserts (some in a loop); `check`
  is then called with the program's entry point.
"""

from __future__ import annotations

import ast
import threading

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


# The sandbox runs programs on a pool of threads, each planning its tests. CPython 3.11 before
# 3.11.8 keeps ast.parse's recursion count in shared state, and two threads parsing at once can
# fail with "SystemError: AST constructor recursion depth mismatch" (python/cpython#106905).
_PARSING = threading.Lock()


def parse(tests: str) -> ast.Module:
    with _PARSING:
        return ast.parse(tests, filename="tests.py")


def test_names(tests: str | None, entry_point: str | None) -> tuple[str, ...]:
    """Every test the file holds, in the order they run. Raises SyntaxError for a malformed file."""
    if tests is None:
        return (PROGRAM_TEST,)
    module = parse(tests)
    names = [f"line {n.lineno}" for n in module.body if holds_assert(n)]
    names += test_functions(module)
    check = _check_function(module, entry_point)
    if check is not None:
        names += [f"check line {n.lineno}" for n in check.body if holds_assert(n)]
    return tuple(names)


def is_test_class(node: ast.stmt) -> bool:
    """A class pytest collects: named `Test*`, with no `__init__` of its own."""
    return isinstance(node, ast.ClassDef) and node.name.startswith("Test") and not any(
        isinstance(n, ast.FunctionDef) and n.name == "__init__" for n in node.body)  # fmt: skip


def test_functions(module: ast.Module) -> tuple[str, ...]:
    """The test functions and methods ("TestClass::test_method"), in source order."""
    return tuple(name for name, _ in _test_definitions(module))


def _test_definitions(module: ast.Module) -> list[tuple[str, ast.FunctionDef]]:
    found = []
    for node in module.body:
        if is_test_function(node) and isinstance(node, ast.FunctionDef) and not _skipped(node):
            found.append((node.name, node))
        elif is_test_class(node) and not _skipped(node):
            found += [(f"{node.name}::{n.name}", n) for n in node.body if is_test_function(n) and isinstance(n, ast.FunctionDef) and not _skipped(n)]
    return found


def _skipped(node: ast.FunctionDef | ast.ClassDef) -> bool:
    """Marked `@pytest.mark.skip` or `xfail` (called or not): pytest would not fail it, so it is
    no test here. `skipif` depends on its condition, which only the run knows: it runs."""
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and target.attr in ("skip", "xfail"):
            return True
    return False


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


def cases(function, owner=None) -> list[dict]:
    """The keyword arguments of each call of a test function: [{}] (one call, no arguments), or
    one per combination of its `@pytest.mark.parametrize` cases (and its class's, `owner`), read
    from the marks pytest leaves on them (`pytestmark`). A case marked skip or xfail is left out:
    pytest would not fail it."""
    marks = [*(getattr(owner, "pytestmark", None) or ()), *(getattr(function, "pytestmark", None) or ())]
    combos: list[dict] = [{}]
    for mark in marks:
        if getattr(mark, "name", None) == "parametrize":
            cases = _parametrized(mark)
            # pytest's order: the marks applied later (decorators further up) vary fastest
            combos = [{**combo, **case} for combo in combos for case in cases]
    return combos


def _parametrized(mark) -> list[dict]:
    args, kwargs = tuple(mark.args), dict(mark.kwargs)
    names = args[0] if args else kwargs["argnames"]
    values = args[1] if len(args) > 1 else kwargs["argvalues"]
    names = [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else list(names)
    found = []
    for value in values:
        if type(value).__name__ == "ParameterSet":  # pytest.param(..., marks=..., id=...)
            if any(getattr(m, "name", None) in ("skip", "xfail") for m in value.marks):
                continue
            value = value.values
        elif len(names) == 1:
            value = (value,)
        value = tuple(value)
        if len(value) != len(names):
            raise TypeError(f"a parametrize case gives {len(value)} values for {len(names)} names ({', '.join(names)})")
        found.append(dict(zip(names, value)))
    return found


def unprovided_arguments(tests: str) -> dict[str, tuple[str, ...]]:
    """Per test function or method, the parameters nothing gives it here: not defaulted, not
    `self`, not named by a `parametrize` decorator of its own or its class's (pytest would look
    for fixtures of those names). One whose parametrize names are not written out as text is left
    out: only the run can tell."""
    module = parse(tests)
    classes = {n.name: n for n in module.body if is_test_class(n)}
    missing = {}
    for name, node in _test_definitions(module):
        owner = classes.get(name.partition("::")[0]) if "::" in name else None
        given = _parametrize_names(node.decorator_list + (owner.decorator_list if owner else []))
        if given is None:
            continue
        arguments = node.args
        positional = arguments.posonlyargs + arguments.args
        required = [a.arg for a in positional[: len(positional) - len(arguments.defaults)]][1 if owner else 0 :]  # not self
        required += [a.arg for a, default in zip(arguments.kwonlyargs, arguments.kw_defaults) if default is None]
        if left := tuple(arg for arg in required if arg not in given):
            missing[name] = left
    return missing


def _parametrize_names(decorators: list[ast.expr]) -> set[str] | None:
    names: set[str] = set()
    for decorator in decorators:
        if not (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute) and decorator.func.attr == "parametrize"):
            continue
        first = decorator.args[0] if decorator.args else next((k.value for k in decorator.keywords if k.arg == "argnames"), None)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names |= {n.strip() for n in first.value.split(",") if n.strip()}
        elif isinstance(first, (ast.List, ast.Tuple)) and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in first.elts):
            names |= {e.value for e in first.elts}
        else:
            return None
    return names
