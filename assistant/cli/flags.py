"""Command-line flags from the options schema (assistant/options.py): one flag per option, named,
typed, ranged and described by the schema; the parsed value is at `args.<option name>`."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from ..options import OPTION, Option


def add_flags(parser: argparse.ArgumentParser | Any, names: Iterable[str], defaults: Mapping[str, Any] | None = None) -> None:
    """Flags for the options `names` on `parser` (or an argument group); `defaults` replaces the
    schema's default where a command has its own (e.g. eval writes longer completions)."""
    for name in names:
        option = OPTION[name]
        default = (defaults or {}).get(name, option.default)
        parser.add_argument(option.cli_flag, dest=name, default=default, help=_help(option, default), **_kind(option, default))


def values(args: argparse.Namespace, names: Iterable[str]) -> dict[str, Any]:
    """The parsed options `names`, by option name (for config.from_options)."""
    return {name: getattr(args, name) for name in names}


def _kind(option: Option, default: Any) -> dict[str, Any]:
    if option.kind is bool:
        return {"action": "store_false" if default else "store_true"}
    spec: dict[str, Any] = {"type": _parser(option)}
    if option.metavar:
        spec["metavar"] = option.metavar
    elif option.choices:
        spec["metavar"] = "{" + ",".join(option.choices) + "}"
    else:
        spec["metavar"] = option.cli_flag.removeprefix("--").replace("-", "_").upper()
    return spec


def _parser(option: Option):
    """An argparse type: the text converted to the option's kind, valid by the schema's rule."""

    def parse(text: str) -> Any:
        try:
            value = option.normalize(text if option.kind is str else option.kind(text))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {option.describe_range()}, got {text!r}") from None
        why = option.check(value)
        if why is not None:
            raise argparse.ArgumentTypeError(f"{why}, got {text!r}")
        return value

    parse.__name__ = option.kind.__name__  # argparse names the type in its message
    return parse


def _help(option: Option, default: Any) -> str:
    text = option.help.rstrip(".")
    if option.kind is bool:
        return text if not default else f"turn off {option.name.replace('_', ' ')} ({text[0].lower()}{text[1:]})"
    return text if default is None else f"{text} (default: {default})"
