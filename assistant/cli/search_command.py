"""`guidecode generate` with tests: the planning search, its progress, and which tests pass.

`generate` searches when there is something to search against (examples in the function's
docstring, or `--tests FILE`) unless `--no-search`; otherwise it writes the body as before.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from ..errors import GuidecodeError
from ..progress import Progress
from .flags import add_flags


def add_options(parser: argparse.ArgumentParser, search_options: tuple[str, ...]) -> None:
    group = parser.add_argument_group("test-guided search (when the docstring shows examples, or with --tests)")
    group.add_argument(
        "--tests",
        metavar="FILE[::TEST]",
        help="public tests: top-level asserts, test_* functions and Test* classes' test_* methods (pytest style) calling the function by name; FILE::test_name, FILE::TestClass or FILE::TestClass::test_name keeps that one",
    )
    group.add_argument("--no-doctests", action="store_true", help="do not use the docstring's examples as tests")
    add_flags(group, search_options)


def test_suite(args: argparse.Namespace, text: str):
    """The public tests for the function `args` names in `text` (empty: no search)."""
    from ..functions import find_function_slot
    from ..search import TestSuite
    from .args import read_source

    if not args.search:
        return TestSuite("", (), ())
    slot = find_function_slot(text, args.function)
    stem = None if args.source == "-" else Path(args.source).stem  # the module a test file imports it as
    tests = TestSuite.load(text, slot.name, args.tests, read_source, not args.no_doctests, stem)
    if args.tests and tests.empty:
        raise GuidecodeError(f"{args.tests} holds no test: write top-level asserts or test_* functions")
    return tests


def cmd_search(args: argparse.Namespace, text: str, tests, assistant, where: dict, out: Console, err: Console) -> int:
    from decoders.planning import PlanningConfig
    from sandbox import Sandbox

    from ..functions import find_function_slot
    from ..search import search_function

    sandbox = Sandbox()
    if sandbox.mode != "bubblewrap":
        err.print(f"[yellow]warning:[/] candidates run with weaker isolation ({sandbox.mode})")
    config = PlanningConfig(rollouts=args.search_rollouts, seconds=args.search_seconds, temperature=args.search_temperature)
    slot = find_function_slot(text, args.function)
    progress = Progress.to_stderr() if not args.json else Progress.silent()
    with progress.count(f"searching ({len(tests.names)} tests)", total=args.search_rollouts) as advance:
        done = [0]

        def on_rollout(rollouts: int, best) -> None:
            advance(rollouts - done[0], f"best: {best.scored.detail} of {len(tests.names)} tests")
            done[0] = rollouts

        with _interrupt_sets(cancel := threading.Event()):
            found = search_function(assistant, slot, tests, sandbox, config, cancel=cancel, on_rollout=on_rollout, **where)
    if found is None:
        raise GuidecodeError("interrupted before the search wrote a first program")
    if args.json:
        print(json.dumps(_as_json(found)))
        return 0
    out.print(Syntax(found.generated.function, "python"))
    for shown in found.passed:
        err.print(f"[green]passed[/] {escape(shown)}", markup=True, highlight=False)
    said: set[str] = set()  # a reason for tests not run is said at the first of them
    for shown, detail in found.failures:
        why = f": {detail}" if detail and detail not in said else ""
        said |= {detail} if detail.startswith("not run") else set()
        err.print(f"[red]failed[/] {escape(shown + why)}", markup=True, highlight=False)
    result = found.result
    err.print(
        f"{len(found.passed)} of {len(tests.names)} tests pass; search stopped ({result.stopped}) after {result.rollouts} "
        f"programs written, {len(result.programs)} run, in {result.seconds:.1f} s; {assistant.description}",
        style="dim",
        soft_wrap=True,
    )
    return 0


@contextmanager
def _interrupt_sets(flag: threading.Event):
    """The first Ctrl-C stops the search (the best program so far is printed); a second one
    interrupts as usual."""

    def handler(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()

    previous = signal.signal(signal.SIGINT, handler) if threading.current_thread() is threading.main_thread() else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


def _as_json(found) -> dict:
    return {**found.generated.to_json(), "search": found.report()}
