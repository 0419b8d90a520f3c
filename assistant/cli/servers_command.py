"""`guidecode servers [list]`: the language servers the monitors can drive, each found where or
missing (with how to get it); `guidecode servers install NAME`: install one from npm into
guidecode's own folder."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from ..analysis import installation
from ..analysis.registry import SERVERS
from ..errors import GuidecodeError
from .args import UsageError


def add_parser(commands) -> None:
    parser = commands.add_parser("servers", help="list the language servers the monitors can use, or install one")
    parser.add_argument("action", nargs="?", choices=("list", "install"), default="list")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"servers (default for list: all; {', '.join(SERVERS)})")


def cmd_servers(args: argparse.Namespace, out: Console, err: Console) -> int:
    unknown = [name for name in args.names if name not in SERVERS]
    if unknown:
        raise UsageError(f"unknown server {unknown[0]!r}; choose from {', '.join(SERVERS)}")
    if args.action == "list":
        out.print(_servers_table(args.names or list(SERVERS)))
        return 0
    if not args.names:
        raise UsageError(f"name the server to install: {', '.join(n for n, s in SERVERS.items() if s.npm_packages)}")
    for name in args.names:
        if SERVERS[name].npm_packages:
            err.print(f"installing {' '.join(SERVERS[name].npm_packages)} with npm…", style="dim")
        try:
            binary = installation.install_server(name)
        except installation.ServerInstallError as error:
            raise GuidecodeError(str(error)) from None
        out.print(f"{name}: installed, {binary}", soft_wrap=True)
    return 0


def _servers_table(names: list[str]) -> Table:
    table = Table(title="language servers for the monitors")
    for column in ("server", "languages", "found"):
        table.add_column(column, overflow="fold")
    for name in names:
        spec, found = SERVERS[name], installation.locate(name)
        where = f"{found[0]} ({found[1]})" if found else f"missing: {spec.hint}"
        table.add_row(name, ", ".join(spec.language_ids), where)
    return table
