"""`guidecode sandbox PROGRAM.py [--tests FILE]`: run one program (and its tests) in the sandbox
and print the structured result."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sandbox import Limits, RunResult, Sandbox, Status

from ..errors import GuidecodeError

_STYLE = {Status.PASSED: "bold green", Status.FAILED: "bold red"}


def add_parser(commands, positive_int, positive_float) -> None:
    parser = commands.add_parser("sandbox", help="run a program (and its tests) isolated and limited; print the result")
    parser.add_argument("program", type=Path, metavar="PROGRAM.py")
    parser.add_argument("--tests", type=Path, metavar="FILE", help="tests: top-level asserts, test_* functions, or check(candidate) with --entry-point")
    parser.add_argument("--entry-point", help="the program's function that the tests' check(candidate) is called with")
    parser.add_argument("--timeout", type=positive_float, default=10.0, help="wall-clock seconds (default: %(default)s)")
    parser.add_argument("--memory", type=positive_int, default=1024, help="address space in MB (default: %(default)s)")
    parser.add_argument("--isolation", choices=("auto", "bubblewrap", "none"), default="auto", help="auto: bubblewrap when it works here (default)")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")


def cmd_sandbox(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Exit code 0 when the run passed, 1 otherwise (so scripts can branch on it)."""
    from .args import read_source  # the CLI's reading rules (clear errors, UTF-8, "-" for stdin)

    program = read_source(args.program)
    tests = read_source(args.tests) if args.tests else None
    try:
        sandbox = Sandbox(Limits(timeout_s=args.timeout, memory_mb=args.memory), isolation=args.isolation, workers=1)
        result = sandbox.run(program, tests, args.entry_point)
    except (ValueError, RuntimeError) as error:
        raise GuidecodeError(str(error)) from None
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        _print(result, out, err)
    return 0 if result.passed else 1


def _print(result: RunResult, out: Console, err: Console) -> None:
    if result.isolation != "bubblewrap":
        err.print(f"[yellow]warning:[/] weaker isolation ({result.isolation}); limits hold, the filesystem and network are not isolated")
    if result.stdout:
        out.print(result.stdout, end="" if result.stdout.endswith("\n") else "\n", markup=False, highlight=False)
    if result.stderr:
        err.print(result.stderr, end="" if result.stderr.endswith("\n") else "\n", markup=False, highlight=False, style="dim")
    if [test.name for test in result.tests] != ["program"]:  # more than the program run as the test
        table = Table("test", "outcome", "detail", box=None)
        for test in result.tests:
            table.add_row(test.name, test.outcome.value, test.detail)
        err.print(table)
    summary = f"[{_STYLE.get(result.status, 'bold yellow')}]{result.status.value}[/] {result.reason}".rstrip()
    dropped = result.stdout_dropped + result.stderr_dropped
    err.print(
        f"{summary}  ({result.tests_passed}/{len(result.tests)} tests, {result.wall_s:.2f} s wall, {result.cpu_s:.2f} s CPU, "
        f"{'?' if result.peak_memory_mb is None else f'{result.peak_memory_mb:.0f}'} MB peak, {result.isolation}{f', {dropped} output bytes dropped' if dropped else ''})"
    )
