"""The `guidecode` command: complete, generate, serve, bench, eval, calibrate, sandbox, models and
servers.

Every failure the user can fix ends in one line on stderr ("guidecode: error: …") and a
non-zero exit: 2 for malformed arguments, 1 for everything else.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from rich.console import Console
from rich.live import Live
from rich.syntax import Syntax
from rich.table import Table

from .. import embedded
from ..config import MONITOR_NAMES, AssistantConfig, from_options
from ..errors import GuidecodeError
from ..languages import detect
from ..options import OPTION
from ..progress import Progress
from . import bench_command, sandbox_command, search_command, servers_command
from .args import Parser, UsageError, add_ray_flags, monitor_list, name_list, parse_position, positive_float, positive_int, read_source
from .flags import add_flags, values

SERVE_OPTIONS = ("model", "dtype", "device", "weights")

Result = TypeVar("Result")


# The options `complete` and `generate` take (their flags come from the options schema).
DECODING_OPTIONS = (
    "model",
    "dtype",
    "device",
    "weights",
    "allow_download",
    "max_tokens",
    "max_prompt_tokens",
    "context_tokens",
    "context_when",
    "context_confidence",
    "temperature",
    "top_p",
    "seed",
    "beam_width",
    "speculation",
    "draft_model",
    "healing",
    "monitors",
    "name_choice",
    "language_server",
    "adadec",
    "syntactic_lookahead",
    "uscd",
    "threshold",
    "top_k",
    "lookahead",
    "scoring",
    "alpha",
)
SEARCH_OPTIONS = ("search", "search_rollouts", "search_seconds", "search_temperature")


def _model_options(parser: argparse.ArgumentParser, defaults: dict | None = None) -> None:
    add_flags(parser, DECODING_OPTIONS, defaults)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of highlighted code")
    parser.add_argument("--workspace", type=Path, help="project folder the monitors analyse (default: the file's project root; none for stdin)")
    parser.add_argument(
        "--monitors",
        dest="monitor_names",
        type=monitor_list,
        default=None,
        metavar="NAMES",
        help=f"comma-separated monitors to run (default: all: {','.join(MONITOR_NAMES)})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="guidecode", description="A local code assistant whose every token is guided.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    complete = commands.add_parser("complete", help="complete the code at a position of a file")
    complete.add_argument("position", metavar="PATH:LINE:COL", help="file (or - for stdin) and 1-based line and column of the cursor")
    complete.add_argument("--language", metavar="ID", help="the file's language id, e.g. typescript (default: from its name; Python for stdin)")
    # The language server's prompt window: a one-line completion answers sooner (docs/quantization.md).
    _model_options(complete, {"max_prompt_tokens": OPTION["max_prompt_tokens"].default_in("editor")})

    generate = commands.add_parser("generate", help="write a function body from its signature and docstring")
    generate.add_argument("source", nargs="?", default="-", metavar="FILE", help="Python file, or - for stdin (default)")
    generate.add_argument("--function", help="the function to write (default: the first with an empty body)")
    _model_options(generate)
    search_command.add_options(generate, SEARCH_OPTIONS)

    serve = commands.add_parser("serve", help="run the language server (stdio, or --tcp HOST:PORT)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="use stdio (the default; accepted because LSP clients pass it)")
    add_flags(serve, SERVE_OPTIONS)  # the defaults an editor's settings may override
    serve.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    bench_command.add_parser(commands)
    from . import eval_command

    eval_command.add_eval_parser(commands)
    eval_command.add_compare_parser(commands)
    _calibrate_parser(commands)
    sandbox_command.add_parser(commands, positive_int, positive_float)
    servers_command.add_parser(commands)

    models = commands.add_parser("models", help="list, prepare or verify the embedded models")
    models.add_argument("action", nargs="?", choices=("list", "prepare", "verify"), default="list")
    models.add_argument("names", nargs="*", metavar="NAME", help=f"embedded models (default: all installed; {', '.join(embedded.EMBEDDED)})")
    models.add_argument("--dtype", default="auto", help="dtype to prepare the ready-to-load cache in")
    return parser


def _calibrate_parser(commands) -> None:
    from ..corpus import DEFAULT_PACKAGES

    p = commands.add_parser("calibrate", help="learn the entropy above which the model's greedy choice is likely wrong (adaptive decoding)")
    add_flags(p, ("model", "dtype", "device"))
    p.add_argument(
        "--packages",
        type=name_list,
        default=DEFAULT_PACKAGES,
        metavar="A,B,C",
        help=f"installed packages (import names) whose code is read (default: {','.join(DEFAULT_PACKAGES)})",
    )
    p.add_argument("--tokens", type=positive_int, default=40_000, help="tokens of code to read (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="which files and windows are read (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object: model, threshold, method, corpus, stats, seconds, saved")
    p.add_argument("--no-save", action="store_true", help="report only; do not store the threshold in the user cache")
    add_ray_flags(p, "score the corpus on Ray workers, each loading the model once")


def _config(args: argparse.Namespace) -> AssistantConfig:
    config = from_options(values(args, DECODING_OPTIONS))
    if args.monitor_names is not None and config.monitors.enabled:
        return replace(config, monitors=replace(config.monitors, enabled=args.monitor_names))
    return config


def _load(args: argparse.Namespace):
    from ..assistant import Assistant  # torch and transformers load only for commands that need them

    return Assistant.load(_config(args), progress=Progress.to_stderr())


def _stats_line(completion, assistant) -> str:
    if assistant.speculating:
        speculation = f"speculation: {completion.accepted_draft_tokens} drafted tokens accepted in {completion.forward_passes} passes"
    else:
        speculation = assistant.speculation_note or "speculation off"
    return (
        f"{completion.tokens} tokens in {completion.seconds:.2f} s ({completion.tokens_per_second:.1f} tok/s), "
        f"{completion.scope} scope, stopped by {completion.stop_reason}; {speculation}; {_monitor_note(completion, assistant)}; {assistant.description}"
    )


def _monitor_note(completion, assistant) -> str:
    if completion.monitored:
        return f"monitors: {completion.monitor_queries} language-server queries, {completion.monitor_rejections} tokens turned down"
    return assistant.monitors.notes[-1] if assistant.monitors.notes else "monitors off"


# LSP language ids that Pygments (rich's highlighter) knows by another name.
_LEXERS = {"typescriptreact": "tsx", "javascriptreact": "jsx", "plaintext": "text"}


def _stream_code(console: Console, run: Callable[[Callable[[str], None]], Result], lexer: str = "python") -> Result:
    """Run `run(on_text)` showing the code highlighted as it grows; returns what `run` returns."""
    shown = [""]
    with Live(Syntax("", lexer), console=console, transient=True, auto_refresh=False) as live:

        def on_text(chunk: str) -> None:
            shown[0] += chunk
            live.update(Syntax(shown[0], lexer), refresh=True)

        return run(on_text)


def cmd_complete(args: argparse.Namespace, out: Console, err: Console) -> int:
    path, line, column = parse_position(args.position)
    text = read_source(path)
    from ..documents import to_offset

    cursor = to_offset(text, (line, column))  # checked before the model loads
    where = _workspace(args, path)
    language = detect(None if str(path) == "-" else path, args.language)
    where["language"] = language.name
    assistant = _load(args)
    if args.json:
        completion = assistant.complete(text, cursor, **where)
        print(json.dumps(completion.to_json()))
        return 0
    lexer = _LEXERS.get(language.name, language.name)
    result = _stream_code(out, lambda on_text: assistant.complete(text, cursor, on_text=on_text, **where), lexer)
    out.print(Syntax(result.text, lexer))
    err.print(_stats_line(result, assistant), style="dim", soft_wrap=True)
    return 0


def _workspace(args: argparse.Namespace, path: Path | None) -> dict:
    """The workspace and document path for the monitors (checked before the model loads)."""
    from ..monitoring import project_root

    if args.workspace is not None and not args.workspace.is_dir():
        raise GuidecodeError(f"--workspace {args.workspace} is not a directory; pass the project's folder")
    workspace = args.workspace or (project_root(path) if path is not None else None)
    return {"workspace": workspace, "path": path}


def cmd_generate(args: argparse.Namespace, out: Console, err: Console) -> int:
    text = read_source(Path(args.source))
    from ..functions import find_function_slot

    find_function_slot(text, args.function)  # a missing function is reported before the model loads
    where = _workspace(args, None if args.source == "-" else Path(args.source))
    tests = search_command.test_suite(args, text)  # so is a test file that does not parse
    assistant = _load(args)
    if not tests.empty:
        return search_command.cmd_search(args, text, tests, assistant, where, out, err)
    if args.json:
        generated = assistant.generate_function(text, args.function, **where)
        print(json.dumps(generated.to_json()))
        return 0
    generated = _stream_code(out, lambda on_text: assistant.generate_function(text, args.function, on_text=on_text, **where))
    out.print(Syntax(generated.function, "python"))
    err.print(_stats_line(generated.completion, assistant), style="dim", soft_wrap=True)
    return 0


def cmd_models(args: argparse.Namespace, out: Console, err: Console) -> int:
    names = args.names or list(embedded.EMBEDDED)
    unknown = [n for n in names if embedded.lookup(n) is None]
    if unknown:
        raise UsageError(f"unknown embedded model {unknown[0]!r}; choose from {', '.join(embedded.EMBEDDED)}")
    chosen = [m for m in map(embedded.lookup, names) if m is not None]  # all found: unknown names were refused above
    if args.action == "list":
        out.print(_models_table(chosen))
        return 0
    if not args.names:  # by default act only on what is installed
        chosen = [m for m in chosen if _installed(m)] or chosen[:1]
    for model in chosen:
        if args.action == "prepare":
            from ..loading import load_model

            loaded = load_model(model.name, dtype=args.dtype, progress=Progress.to_stderr())
            out.print(f"{model.name}: ready ({loaded.name}, {loaded.dtype}, loaded in {loaded.load_seconds:.1f} s)")
        else:
            with Progress.to_stderr().bytes(f"verifying {model.title}", model.size) as advance:
                embedded.verify(model, on_progress=advance)
            out.print(f"{model.name}: sha256 {model.sha256} verified")
    return 0


def _installed(model: embedded.EmbeddedModel) -> bool:
    try:
        embedded.part_paths(model)
        return True
    except embedded.ModelNotInstalled:
        return False


def _models_table(models: list[embedded.EmbeddedModel]) -> Table:
    table = Table(title="embedded models")
    for column in ("name", "model", "installed", "assembled", "ready caches", "sha256"):
        table.add_column(column)
    for m in models:
        caches = sorted(p.name.removeprefix("ready-") for p in embedded.model_dir(m).glob("ready-*") if (p / "complete.json").is_file())
        installed = "yes" if _installed(m) else f"no: pip install 'guidecode[{m.extra}]'"
        assembled = "yes" if embedded.is_assembled(m) else "no"
        table.add_row(m.name, m.title, installed, assembled, ", ".join(caches) or "-", m.sha256[:16] + "…")
    return table


def cmd_serve(args: argparse.Namespace, out: Console, err: Console) -> int:
    import logging

    from lsp.options import ServerOptions
    from lsp.server import build_server

    address = _host_port(args.tcp) if args.tcp else None
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="guidecode %(levelname)s %(name)s: %(message)s")
    server = build_server(ServerOptions(**values(args, SERVE_OPTIONS)))
    if address is None:
        server.start_io()  # stdout carries the protocol: nothing else may print there
    else:
        server.start_tcp(*address)
    return 0


def cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from . import eval_command as command

    return command.cmd_compare(args, out, err)


def cmd_eval(args: argparse.Namespace, out: Console, err: Console) -> int:
    from ..evaluation import SettingsError
    from . import eval_command as command

    try:
        settings = command.settings_from_args(args)
    except SettingsError as error:
        raise UsageError(str(error)) from None
    return command.run(settings, args.json, out, err)


def cmd_calibrate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from .. import calibration

    return calibration.command(args, out, err)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:2087), got {text!r}")
    return host, int(port)


COMMANDS = {
    "complete": cmd_complete,
    "generate": cmd_generate,
    "models": cmd_models,
    "serve": cmd_serve,
    "bench": bench_command.cmd_bench,
    "eval": cmd_eval,
    "compare": cmd_compare,
    "calibrate": cmd_calibrate,
    "sandbox": sandbox_command.cmd_sandbox,
    "servers": servers_command.cmd_servers,
}


def main(argv: list[str] | None = None) -> int:
    err = Console(stderr=True)
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args, Console(), err)
    except UsageError as error:
        err.print(f"guidecode: error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except GuidecodeError as error:
        err.print(f"guidecode: error: {error}", markup=False, highlight=False, soft_wrap=True)
        return 1
    except KeyboardInterrupt:
        err.print("guidecode: interrupted", markup=False)
        return 130
