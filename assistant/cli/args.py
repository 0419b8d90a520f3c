"""What the `guidecode` commands share about their arguments: the usage error, the parser that
reports one line, argument types, the reranking options, and reading the user's source file.
Kept apart from cli.py so that every command's module (bench, eval, sandbox, search) uses the
same rules without importing the CLI. Options a user configures take their flags from the schema
(flags.py)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from ..config import MONITOR_NAMES
from ..errors import GuidecodeError


class UsageError(GuidecodeError):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line that says what to fix is enough.
        raise UsageError(f"{message} (see: {self.prog} --help)")


def monitor_list(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in MONITOR_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown monitor {unknown[0]!r}; choose from {', '.join(MONITOR_NAMES)}")
    return names


def checked(convert, noun: str, ok=lambda number: number > 0):
    """An argparse type: `convert` the value, which must satisfy `ok` (`noun` names what was expected)."""

    def parse(value: str):
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {value!r}") from None
        if not ok(number):
            raise argparse.ArgumentTypeError(f"expected {noun}, got {value!r}")
        return number

    return parse


positive_int = checked(int, "a positive integer")
positive_float = checked(float, "a positive number")


def name_list(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {value!r}")
    return names


def parse_position(text: str) -> tuple[Path, int, int]:
    """PATH:LINE:COL, 1-based, into the path and a 0-based (line, column)."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise UsageError(f"expected PATH:LINE:COL (e.g. app.py:12:5), got {text!r}")
    path, line, column = parts
    if not (line.isdigit() and column.isdigit() and int(line) >= 1 and int(column) >= 1):
        raise UsageError(f"LINE and COL must be positive integers (1-based), got {line!r} and {column!r} in {text!r}")
    return Path(path), int(line) - 1, int(column) - 1


def read_source(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    if not path.exists():
        raise GuidecodeError(f"file not found: {path}")
    if not path.is_file():
        raise GuidecodeError(f"not a file: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise GuidecodeError(f"{path} is not UTF-8 text (byte {error.start}); convert it to UTF-8 first") from None


def add_ray_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """--ray, --workers and --worker-threads (assistant/cluster.py), for a command that can spread its work."""
    parser.add_argument(
        "--ray",
        metavar="auto|ADDRESS",
        help=f"{what}: auto starts a local cluster sized to this machine, ADDRESS joins a running one (ray start --head; docs/evaluation.md)",
    )
    parser.add_argument("--workers", type=positive_int, help="with --ray: how many workers (default: one per --worker-threads CPUs of the cluster)")
    parser.add_argument("--worker-threads", type=positive_int, default=1, help="with --ray: CPUs and torch threads per worker (default: %(default)s)")
