"""Public tests for a function: the input/output examples of its docstring, as a test file that the
sandbox runs (sandbox/testplan.py: each top-level assert is one test, other statements are setup,
and the tests run in the program's globals, so they call its functions by name).

Examples are read from the docstring of the function, in order:
- doctests (`>>> expr` and the expected output), with the standard library's parser: a statement
  without output is kept as setup, in place; an output that is not a Python expression (printed
  text, a traceback) is skipped;
- a call shown with its result on a line (`f(x) == y`, `==>`, `=>`, `➞`, `->`, `→`, `=`, "should
  return", "returns"), also a call spread over lines while its brackets are open;
- "Input: a = 1, b = 2" followed by "Output: 3", and "For a = 1 the output should be 3", as a call
  of the function with those arguments;
- an `assert` statement that calls the function and shows no result to compare with
  (`assert math.isclose(f(10), 4188.79, rel_tol=0.001)`), kept as written (one with a result is
  read as the call and the result above).
Only examples whose call side calls the function are kept, each once. Results are compared with
`__guidecode_same`: equal, or close within 1e-6 where floats meet (also inside lists and tuples).
"""

from __future__ import annotations

import ast
import doctest
import inspect
import itertools
import re
import sys
from dataclasses import dataclass

from sandbox.testplan import test_names

from .errors import GuidecodeError
from .examples import docstring_spans  # the same docstrings as the prompt without examples
from .functions import find_function_slot

SAME = "__guidecode_same"  # a dunder-style name no user program defines
_SAME_SOURCE = f"""def {SAME}(actual, expected):
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)) and isinstance(actual, list) == isinstance(expected, list):
        return len(actual) == len(expected) and all(map({SAME}, actual, expected))
    if isinstance(actual, float) or isinstance(expected, float):
        try:
            return actual == expected or abs(actual - expected) <= 1e-6 * max(1.0, abs(actual), abs(expected))
        except TypeError:
            return False
    return actual == expected
"""

# Longest first, so that `==>` is not read as `==`; a lone `=` is not part of `<=`, `!=`, `:=`, `+=`...
_SEPARATOR = re.compile(r"==>|=>|==|➞|->|→|\bshould\s+return\b|\breturns?\b|(?<![=!<>:+\-*/%&|^@])=(?![=>])", re.IGNORECASE)
_CALL_START = re.compile(r"[\s:*>]+")  # where a call may start on a line: after a label, bullet or prompt
_INPUT = re.compile(r"^\s*input\s*:\s*(?P<args>\S.*?)\s*$", re.IGNORECASE)
_OUTPUT = re.compile(r"^\s*output\s*:\s*(?P<result>\S.*?)\s*$", re.IGNORECASE)
_FOR = re.compile(r"^\s*for\s+(?P<args>.+?),?\s+the\s+(?:output|result)\s+(?:should\s+be|will\s+be|is)\s+(?P<result>\S.*?)\s*$", re.IGNORECASE)
_PROSE_CONSTANTS = {"true": "True", "false": "False", "none": "None", "null": "None"}  # results written as in other languages
_QUOTE = re.compile(r"[A-Za-z]*('''|\"\"\"|'|\")")
_STRING = re.compile(r"'[^'\n]*'|\"[^\"\n]*\"")
_ASSERT = re.compile(r"^\s*assert\s+")
_MAX_JOINED_LINES = 20  # how far a call shown over several lines may reach
# Bounds on the parses one line may cost (each is linear in the line), for docstrings that are odd.
_MAX_SEPARATORS = 32  # separators tried on a line: keyword arguments and strings in the call hold some
_MAX_REMARKS = 8  # parenthesised remarks cut from a result
_MAX_STARTS = 8  # where the call side of a line may start ("Example 1: for f(x)")


@dataclass(frozen=True)
class PublicTests:
    source: str  # a test file: setup lines and one top-level assert per example ("" without examples)
    examples: tuple[str, ...]  # each example as shown to a user, e.g. "add(2, 3) == 5", in the asserts' order

    @property
    def empty(self) -> bool:
        return not self.examples


@dataclass(frozen=True)
class _Example:
    call: ast.expr
    expected: ast.expr

    @property
    def shown(self) -> str:
        return ast.unparse(ast.Compare(self.call, [ast.Eq()], [self.expected]))

    @property
    def assertion(self) -> str:
        return ast.unparse(ast.Assert(ast.Call(ast.Name(SAME, ast.Load()), [self.call, self.expected], [])))


@dataclass(frozen=True)
class _Assertion:
    """An `assert` from the docstring, kept as written: its condition calls the function. The
    standard modules it names (`math.isclose`) are imported before it, as the dataset's own test
    file does: the function's code need not import them."""

    condition: ast.expr

    @property
    def shown(self) -> str:
        return ast.unparse(self.condition)

    @property
    def assertion(self) -> str:
        used = {n.value.id for n in ast.walk(self.condition) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)}
        imports = [f"import {module}" for module in sorted(used & sys.stdlib_module_names)]
        return "\n".join([*imports, ast.unparse(ast.Assert(self.condition))])


_Test = _Example | _Assertion
_Piece = str | _Test  # a setup statement's source, or a test


def docstring_tests(text: str, entry_point: str) -> PublicTests:
    """The examples in the docstring of function `entry_point` in `text`, as tests."""
    docstring = _docstring(text, entry_point)
    if docstring is None:
        return PublicTests("", ())
    return _assemble(_pieces(docstring, entry_point))


def _docstring(text: str, name: str) -> tuple[str, str] | None:
    """The docstring of function `name`: its value and its text as written, both dedented."""
    try:
        slot = find_function_slot(text, name)
    except GuidecodeError:
        return None
    # The slot's head ends where its docstring ends, when it has one.
    span = next((s for s in docstring_spans(text) if s[1] == slot.replaced[0]), None)
    if span is None:
        return None
    literal = text[span[0] : span[1]]
    try:
        value: object = ast.literal_eval(literal)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    quote = _QUOTE.match(literal)
    if not isinstance(value, str) or quote is None:
        return None
    written = literal[quote.end() : len(literal) - len(quote.group(1))]
    return inspect.cleandoc(value), inspect.cleandoc(written)


def _pieces(docstring: tuple[str, str], name: str) -> list[_Piece]:
    parts = _doctest_parts(docstring)
    pieces: list[_Piece] = []
    for part in parts:
        if isinstance(part, str):
            pieces += _line_examples(part, name)
        elif (piece := _doctest_piece(part, name)) is not None:
            pieces.append(piece)
    return pieces


def _doctest_parts(docstring: tuple[str, str]) -> list[str | doctest.Example]:
    """Text and doctest examples, in order. A docstring whose doctests do not parse is often one
    whose examples were written as code, escapes included (`f("a\\nb")` in a plain string): its
    text as written is tried next, then it is read as text only."""
    value, written = docstring
    for variant in (value, written):
        try:
            return doctest.DocTestParser().parse(variant)
        except ValueError:
            continue
    return [written]


def _doctest_piece(example: doctest.Example, name: str) -> _Piece | None:
    if example.exc_msg is not None or doctest.ELLIPSIS in example.options or doctest.SKIP in example.options:
        return None
    if not example.want.strip():
        return _silent_piece(example.source, name)
    call = _expression(example.source)
    if call is None or _is_print(call):
        return None
    return _example(call, _expression(example.want), name)  # read strictly: it is Python's own output


def _silent_piece(source: str, name: str) -> _Piece | None:
    """A doctest without output. An expression calling the function shows None, unless it is
    `f(x) == y`: an assert written without its `True`. Anything else is setup (an assignment, an
    import, a side effect), kept in place."""
    expr = _expression(source)
    if expr is None or not _calls(expr, name):
        return source if _is_setup(source) else None
    if _is_print(expr):
        return None
    if isinstance(expr, ast.Compare) and len(expr.ops) == 1 and isinstance(expr.ops[0], ast.Eq) and _calls(expr.left, name):
        return _example(expr.left, expr.comparators[0], name)
    return _example(expr, ast.Constant(None), name)


def _line_examples(text: str, name: str) -> list[_Test]:
    lines = text.split("\n")
    found: list[_Test] = []
    i = 0
    while i < len(lines):
        example, used = _example_at(lines, i, name)
        if example is not None:
            found.append(example)
        i += used
    return found


def _example_at(lines: list[str], i: int, name: str) -> tuple[_Test | None, int]:
    """The example starting at line `i`, if any, and how many lines it takes (at least one)."""
    example, used = _shown_example_at(lines, i, name)
    if example is None and (stated := _ASSERT.match(lines[i])):
        return _assertion_at(lines, i, stated.end(), name)
    return example, used


def _assertion_at(lines: list[str], i: int, start: int, name: str) -> tuple[_Assertion | None, int]:
    """An `assert` statement starting at line `i` (its condition at column `start`, over the lines
    its brackets stay open on) whose condition calls the function, and how many lines it takes."""
    end = _closing_line(lines, i) if _depth(lines[i]) > 0 else i
    if end is None:
        return None, 1
    condition = _expression("\n".join(lines[i : end + 1])[start:])
    if condition is None or not _calls(condition, name) or not _is_one_test(ast.unparse(ast.Assert(condition))):
        return None, 1
    return _Assertion(condition), end - i + 1


def _shown_example_at(lines: list[str], i: int, name: str) -> tuple[_Example | None, int]:
    """A call shown with its result starting at line `i`, if any, and how many lines it takes."""
    if (given := _INPUT.match(lines[i])) and (after := _next_nonblank(lines, i)) is not None:
        if output := _OUTPUT.match(lines[after]):
            return _called_with(given["args"], output["result"], name), after - i + 1
    if phrase := _FOR.match(lines[i]):
        return _called_with(phrase["args"], phrase["result"], name), 1
    example = _shown_call(lines[i], name)
    if example is None and re.search(rf"\b{re.escape(name)}\s*\(", lines[i]) and _depth(lines[i]) > 0:
        end = _closing_line(lines, i)
        if end is not None and (joined := _shown_call("\n".join(lines[i : end + 1]), name)) is not None:
            return joined, end - i + 1
    return example, 1


def _next_nonblank(lines: list[str], i: int) -> int | None:
    return next((j for j in range(i + 1, len(lines)) if lines[j].strip()), None)


def _depth(text: str) -> int:
    """How many brackets `text` leaves open, not counting those in one-line string literals."""
    bare = _STRING.sub("", text)
    return sum(bare.count(c) for c in "([{") - sum(bare.count(c) for c in ")]}")


def _closing_line(lines: list[str], i: int) -> int | None:
    depth = 0
    for j in range(i, min(len(lines), i + _MAX_JOINED_LINES)):
        depth += _depth(lines[j])
        if depth <= 0:
            return j
    return None


def _shown_call(line: str, name: str) -> _Example | None:
    """`call <separator> result` on a line: the first separator with a call of `name` on its left
    and an expression on its right."""
    for separator in itertools.islice(_SEPARATOR.finditer(line), _MAX_SEPARATORS):
        call = _call_side(line[: separator.start()], name)
        example = _example(call, _result_expression(line[separator.end() :]), name) if call is not None else None
        if example is not None:
            return example
    return None


def _call_side(text: str, name: str) -> ast.expr | None:
    """The expression calling `name` that `text` ends with. The line may open with a label, a
    bullet or a word such as "for": the shortest tail that starts at or before the first call
    of `name` (where words may start) is taken, so that prose before it costs no parses."""
    first = re.search(rf"\b{re.escape(name)}\s*\(", text)
    if first is None:
        return None
    starts = [0] + [m.end() for m in _CALL_START.finditer(text, 0, first.start() + 1)]
    for start in starts[::-1][:_MAX_STARTS]:
        expr = _expression(text[start:])
        if expr is not None and _calls(expr, name):
            return expr
    return None


def _called_with(args: str, result: str, name: str) -> _Example | None:
    """An example given as arguments ("a = 1, b = 2", or values) and a result."""
    call = _expression(f"{name}({args.strip().rstrip(',')})")
    # The check keeps arguments from closing the call early (`1), g(2`).
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == name):
        return None
    return _example(call, _result_expression(result), name)


def _result_expression(text: str) -> ast.expr | None:
    """The result in `text`: the whole of it, or without the end of a sentence, or the last of a
    chain of equalities (`1 + 2 = 3`), or before a remark in parentheses. A bare name is prose or
    printed text, not a value; an ellipsis stands for what was left out (see `_is_value`)."""
    text = text.strip()
    candidates = [text.rstrip(".,;"), text, text.rsplit("=", 1)[-1].rstrip(".,;")]
    candidates += [text[: m.start()] for m in list(re.finditer(r"\s\(", text))[::-1][:_MAX_REMARKS]]
    for candidate in candidates:
        candidate = candidate.strip()
        expr = _expression(_PROSE_CONSTANTS.get(candidate, candidate))
        if expr is not None and _is_value(expr):
            return expr
    return None


def _example(call: ast.expr, expected: ast.expr | None, name: str) -> _Example | None:
    """An example when `call` calls the function and `expected` is a value, not a relation between
    calls (`tri(n) = tri(n - 1) + ...` describes, it does not show)."""
    if expected is None or not _is_value(expected) or not _calls(call, name) or _calls(expected, name):
        return None
    example = _Example(call, expected)
    return example if _is_one_test(example.assertion) else None  # not when the assert nests too deep to compile


def _expression(text: str) -> ast.expr | None:
    try:
        return ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _is_setup(source: str) -> bool:
    """A statement that is not itself a test (an assert or a `test*` function would be one)."""
    return _test_count(source) == 0


def _is_one_test(source: str) -> bool:
    return _test_count(source) == 1


def _test_count(source: str) -> int | None:
    """How many tests `source` holds for the sandbox; None when it does not compile."""
    try:
        return len(test_names(source, None))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _calls(expr: ast.expr, name: str) -> bool:
    calls = (n.func for n in ast.walk(expr) if isinstance(n, ast.Call))
    return any(isinstance(f, ast.Name) and f.id == name or isinstance(f, ast.Attribute) and f.attr == name for f in calls)


def _is_print(expr: ast.expr) -> bool:
    return isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "print"


def _is_value(expr: ast.expr) -> bool:
    """Not a bare name (prose or printed text) and not elided (`[1, ..., 9]`)."""
    return not isinstance(expr, ast.Name) and not any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(expr))


def _assemble(pieces: list[_Piece]) -> PublicTests:
    statements = [_SAME_SOURCE]
    shown: list[str] = []
    for piece in pieces:
        if isinstance(piece, str):
            statements.append(piece)
        elif piece.shown not in shown:
            statements.append(piece.assertion)
            shown.append(piece.shown)
    if not shown:
        return PublicTests("", ())
    source = "\n".join(s.rstrip("\n") for s in statements) + "\n"
    assert len(test_names(source, None)) == len(shown), source
    return PublicTests(source, tuple(shown))
