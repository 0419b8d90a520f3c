"""The `guidecode` command: complete, generate, serve, bench, eval, calibrate, sandbox and models.

Every failure the user can fix ends in one line on stderr ("guidecode: error: …") and a
non-zero exit: 2 for malformed arguments, 1 for everything else.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.live import Live
from rich.syntax import Syntax
from rich.table import Table

from . import embedded, sandbox_command, search_command


from .config import LANGUAGE_SERVERS, MONITOR_NAMES, AssistantConfig, MonitorConfig, RerankConfig
from .errors import GuidecodeError
from .progress import Progress


class UsageError(GuidecodeError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # argparse prints the whole usage first; one line that says what to fix is enough.
        raise UsageError(f"{message} (see: {self.prog} --help)")


def _model_options(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(embedded.EMBEDDED)
    parser.add_argument("--model", default=embedded.DEFAULT_MODEL, help=f"embedded ({names}), a local directory, a .gguf file or a hub id (default: %(default)s)")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 where the hardware has it), bfloat16, float16 or float32")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--allow-download", action="store_true", help="fetch hub models missing from the local cache")
    parser.add_argument("--max-tokens", type=_positive_int, default=None, help="most tokens to generate")
    parser.add_argument("--no-speculation", action="store_true", help="decode without drafting (the output is the same; only slower)")
    parser.add_argument("--draft-model", help="a smaller model with the same tokenizer that drafts too (e.g. 0.5b for --model 1.5b)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of highlighted code")
    parser.add_argument("--workspace", type=Path, help="project folder the monitors analyse (default: the file's project root; none for stdin)")
    parser.add_argument("--no-monitors", action="store_true", help="decode without static-analysis monitors")
    parser.add_argument("--monitors", type=_monitor_list, default=None, metavar="NAMES", help=f"comma-separated monitors to run (default: all: {','.join(MONITOR_NAMES)})")
    parser.add_argument("--language-server", choices=LANGUAGE_SERVERS, default="jedi", help="the monitors' language server (default: %(default)s)")
    parser.add_argument("--adadec", action="store_true", help="uncertainty-adaptive reranking: uncertain steps look ahead and rerank")
    parser.add_argument("--syntactic-lookahead", action="store_true", help="with --adadec: look ahead to the end of a statement")
    parser.add_argument("--uscd", action="store_true", help="selective contrast: uncertain steps subtract what the model says without the docstrings' examples")
    _rerank_options(parser, "with --adadec: ")


def _monitor_list(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = [n for n in names if n not in MONITOR_NAMES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown monitor {unknown[0]!r}; choose from {', '.join(MONITOR_NAMES)}")
    return names


def _positive(convert, noun: str):
    """An argparse type: `convert` the value, which must be above 0 (`noun` names what was expected)."""

    def parse(value: str):
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {value!r}") from None
        if not number > 0:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {value!r}")
        return number

    return parse


_positive_int = _positive(int, "a positive integer")
_positive_float = _positive(float, "a positive number")


def _rerank_options(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    parser.add_argument("--threshold", type=float, help=f"{prefix}entropy threshold in nats (default: the one `guidecode calibrate` learned for the model)")
    parser.add_argument("--top-k", type=_positive_int, default=3, help=f"{prefix}candidates looked ahead from at a pause (default: %(default)s)")
    parser.add_argument("--lookahead", type=_positive_int, help=f"{prefix}tokens per candidate (default: 5; with the syntactic lookahead: at most 16)")
    parser.add_argument("--scoring", choices=("mean", "sum", "min"), default="mean", help=f"{prefix}how a lookahead's log-probabilities score (default: %(default)s)")
    parser.add_argument("--alpha", type=float, default=0.5, help="uscd: weight of the contrast (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="guidecode", description="A local code assistant whose every token is guided.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    complete = commands.add_parser("complete", help="complete the code at a position of a file")
    complete.add_argument("position", metavar="PATH:LINE:COL", help="file and 1-based line and column of the cursor")
    _model_options(complete)

    generate = commands.add_parser("generate", help="write a function body from its signature and docstring")
    generate.add_argument("source", nargs="?", default="-", metavar="FILE", help="Python file, or - for stdin (default)")
    generate.add_argument("--function", help="the function to write (default: the first with an empty body)")
    _model_options(generate)
    search_command.add_options(generate, _positive_int, _positive_float)

    serve = commands.add_parser("serve", help="run the language server (stdio, or --tcp HOST:PORT)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    serve.add_argument("--stdio", action="store_true", help="use stdio (the default; accepted because LSP clients pass it)")
    serve.add_argument("--model", default=embedded.DEFAULT_MODEL, help="default model (editors may override it)")
    serve.add_argument("--dtype", default="auto")
    serve.add_argument("--device", default="auto")
    serve.add_argument("--log-level", default="WARNING", choices=("DEBUG", "INFO", "WARNING", "ERROR"))

    bench = commands.add_parser("bench", help="benchmarks (see benchmarks/)")
    benches = bench.add_subparsers(dest="bench", required=True, parser_class=_Parser)
    typing = benches.add_parser("lsp", help="replay typing a file through the language server")
    typing.add_argument("--file", required=True, type=Path, help="a Python file to replay (one the project did not write)")
    typing.add_argument("--model", default=embedded.DEFAULT_MODEL)
    typing.add_argument("--dtype", default="auto")
    typing.add_argument("--start-line", type=_positive_int, help="1-based line where typing starts (default: the middle)")
    typing.add_argument("--chars", type=_positive_int, default=300, help="characters to type (default: %(default)s)")
    typing.add_argument("--cps", type=float, default=6.0, help="typing speed in characters per second (default: %(default)s)")
    typing.add_argument("--line-pause", type=float, default=1.0, help="seconds of pause after each line (default: %(default)s)")
    typing.add_argument("--max-prompt-tokens", type=_positive_int, help="the server's prompt budget (default: the server's)")
    typing.add_argument("--json", action="store_true")
    mgd = benches.add_parser("mgd", help="monitor-guided decoding on a Python source tree: with and without monitors, side by side")
    mgd.add_argument("--repo", action="append", required=True, type=Path, metavar="DIR", help="a Python source tree (repeatable)")
    mgd.add_argument("--limit", type=_positive_int, default=30, help="tasks per tree (default: %(default)s)")
    mgd.add_argument("--model", action="append", help="model(s) to compare (repeatable; default: 0.5b and 1.5b)")
    mgd.add_argument("--dtype", default="auto")
    mgd.add_argument("--language-server", choices=LANGUAGE_SERVERS, default="jedi")
    mgd.add_argument("--max-tokens", type=_positive_int, default=32, help="most tokens per completion (default: %(default)s)")
    mgd.add_argument("--max-prompt-tokens", type=_positive_int, default=1024, help="prompt budget (default: %(default)s)")
    mgd.add_argument("--seed", type=int, default=0, help="which positions are sampled from each tree")
    mgd.add_argument("--json", action="store_true")
    box = benches.add_parser("sandbox", help="a sandboxed run's overhead over a bare Python start, and parallel throughput")
    box.add_argument("--repeat", type=_positive_int, default=50, help="sequential runs per method (default: %(default)s)")
    box.add_argument("--jobs", type=_positive_int, default=100, help="runs for the throughput figure (default: %(default)s)")
    box.add_argument("--json", action="store_true")
    speed = benches.add_parser("speed", help="speculative decoding against transformers, side by side")
    speed.add_argument(
        "--prompts", action="append", metavar="FILE.jsonl",
        help="a JSONL file of {id, prompt, max_new_tokens?}, or a shipped workload: humaneval, infile, edit (repeatable; default: all three)",
    )
    speed.add_argument("--model", default=embedded.DEFAULT_MODEL)
    speed.add_argument("--draft-model", help="a smaller model with the same tokenizer (adds assisted generation and our draft-model drafter)")
    speed.add_argument("--dtype", default="auto")
    speed.add_argument("--limit", type=_positive_int, help="only the first N prompts of each file")
    speed.add_argument("--repeat", type=_positive_int, default=1, help="timed repetitions per method and prompt; the median is reported")
    speed.add_argument("--json", action="store_true")

    _eval_parser(commands)
    from .evaluation import command as eval_command

    eval_command.add_compare_parser(commands)
    _calibrate_parser(commands)
    sandbox_command.add_parser(commands, _positive_int, _positive_float)

    models = commands.add_parser("models", help="list, prepare or verify the embedded models")
    models.add_argument("action", nargs="?", choices=("list", "prepare", "verify"), default="list")
    models.add_argument("names", nargs="*", metavar="NAME", help=f"embedded models (default: all installed; {', '.join(embedded.EMBEDDED)})")
    models.add_argument("--dtype", default="auto", help="dtype to prepare the ready-to-load cache in")
    return parser


def _eval_parser(commands) -> None:
    from .evaluation.decoding import DECODERS

    names = "; ".join(f"{n}: {spec.help}" for n, spec in DECODERS.items())
    p = commands.add_parser("eval", help="pass@k of a decoder on HumanEval or a JSONL file of tasks, run in the sandbox")
    p.add_argument("--dataset", required=True, metavar="humaneval|FILE", help="humaneval, or a .jsonl(.gz) file of {task_id, prompt, test, entry_point[, canonical_solution]}")
    p.add_argument("--decoder", choices=list(DECODERS), default="greedy", help=f"{names} (default: %(default)s)")
    p.add_argument("--samples", type=_positive_int, help="samples per task (default: 10 for sampling; greedy, beam and canonical take 1 only)")
    p.add_argument("--limit", type=_positive_int, help="only the first N tasks")
    p.add_argument("--model", default=embedded.DEFAULT_MODEL, help="as for complete (default: %(default)s)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--max-tokens", type=_positive_int, default=512, help="most tokens per completion (default: %(default)s)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default: %(default)s)")
    p.add_argument("--top-p", type=float, default=0.95, help="sampling top-p (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="sampling: each sample's seed derives from it, the task and the sample's index (default: %(default)s)")
    p.add_argument("--beam-width", type=_positive_int, default=4, help="beam search width (default: %(default)s)")
    _rerank_options(p, "adadec: ")
    p.add_argument("--rollouts", type=_positive_int, default=16, help="search, sample-filter: programs the model may write per task (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds each program may run with its tests (default: %(default)s)")
    p.add_argument("--out", type=Path, help="run folder; an interrupted run resumes from it (default: runs/eval/<dataset>-<decoder>[-r<rollouts>]-<model>)")
    p.add_argument("--json", action="store_true", help="print one JSON object: dataset, decoder, model, n_tasks, pass@k, seconds, tokens")


def _calibrate_parser(commands) -> None:
    from .corpus import DEFAULT_PACKAGES

    p = commands.add_parser("calibrate", help="learn the entropy above which the model's greedy choice is likely wrong (adaptive decoding)")
    p.add_argument("--model", default=embedded.DEFAULT_MODEL, help="as for complete (default: %(default)s)")
    p.add_argument("--dtype", default="auto")
    p.add_argument("--device", default="auto")
    p.add_argument("--packages", type=_name_list, default=DEFAULT_PACKAGES, metavar="A,B,C", help=f"installed packages (import names) whose code is read (default: {','.join(DEFAULT_PACKAGES)})")
    p.add_argument("--tokens", type=_positive_int, default=40_000, help="tokens of code to read (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="which files and windows are read (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print one JSON object: model, threshold, method, corpus, stats, seconds, saved")
    p.add_argument("--no-save", action="store_true", help="report only; do not store the threshold in the user cache")


def _name_list(value: str) -> tuple[str, ...]:
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


def _config(args: argparse.Namespace) -> AssistantConfig:
    kwargs = dict(
        model=args.model,
        dtype=args.dtype,
        device=args.device,
        allow_download=args.allow_download,
        speculation=not args.no_speculation,
        draft_model=args.draft_model,
        monitors=MonitorConfig(enabled=() if args.no_monitors else args.monitors or MONITOR_NAMES, language_server=args.language_server),
    )
    if args.max_tokens:
        kwargs["max_new_tokens"] = args.max_tokens
    if args.adadec and args.uscd:
        raise UsageError("--adadec and --uscd are two decoders: choose one")
    if args.adadec or args.uscd:
        lookahead = args.lookahead or (16 if args.syntactic_lookahead else 5)
        method = "uscd" if args.uscd else "adadec"
        kwargs["rerank"] = RerankConfig(True, method, args.threshold, args.top_k, lookahead, args.scoring, args.syntactic_lookahead, args.alpha)
    return AssistantConfig(**kwargs)


def _load(args: argparse.Namespace):
    from .assistant import Assistant  # torch and transformers load only for commands that need them

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


def _stream_code(console: Console, run) -> str:
    """Run `run(on_text)` showing the code highlighted as it grows; returns the final text."""
    shown = [""]
    with Live(Syntax("", "python"), console=console, transient=True, auto_refresh=False) as live:

        def on_text(chunk: str) -> None:
            shown[0] += chunk
            live.update(Syntax(shown[0], "python"), refresh=True)

        return run(on_text)


def cmd_complete(args: argparse.Namespace, out: Console, err: Console) -> int:
    path, line, column = parse_position(args.position)
    text = read_source(path)
    from .documents import to_offset

    cursor = to_offset(text, (line, column))  # checked before the model loads
    where = _workspace(args, path)
    assistant = _load(args)
    if args.json:
        completion = assistant.complete(text, cursor, **where)
        print(json.dumps(_completion_json(completion)))
        return 0
    result = _stream_code(out, lambda on_text: assistant.complete(text, cursor, on_text=on_text, **where))
    out.print(Syntax(result.text, "python"))
    err.print(_stats_line(result, assistant), style="dim", soft_wrap=True)
    return 0


def _workspace(args: argparse.Namespace, path: Path | None) -> dict:
    """The workspace and document path for the monitors (checked before the model loads)."""
    from .monitoring import project_root

    if args.workspace is not None and not args.workspace.is_dir():
        raise GuidecodeError(f"--workspace {args.workspace} is not a directory; pass the project's folder")
    workspace = args.workspace or (project_root(path) if path is not None else None)
    return {"workspace": workspace, "path": path}


def _completion_json(completion) -> dict:
    return {
        "completion": completion.text,
        "model": completion.model,
        "tokens": completion.tokens,
        "seconds": round(completion.seconds, 4),
        "tokens_per_second": round(completion.tokens_per_second, 2),
        "forward_passes": completion.forward_passes,
        "accepted_draft_tokens": completion.accepted_draft_tokens,
        "monitored": completion.monitored,
        "monitor_queries": completion.monitor_queries,
        "monitor_rejections": completion.monitor_rejections,
        "decided_steps": completion.decided_steps,
        "paused_steps": completion.paused_steps,
    }


def cmd_generate(args: argparse.Namespace, out: Console, err: Console) -> int:
    text = read_source(Path(args.source))
    from .functions import find_function_slot

    find_function_slot(text, args.function)  # a missing function is reported before the model loads
    where = _workspace(args, None if args.source == "-" else Path(args.source))
    tests = search_command.test_suite(args, text)  # so is a test file that does not parse
    assistant = _load(args)
    if not tests.empty:
        return search_command.cmd_search(args, text, tests, assistant, where, out, err)
    if args.json:
        generated = assistant.generate_function(text, args.function, **where)
        print(json.dumps({"function": generated.function, "body": generated.body, "name": generated.name, **_completion_json(generated.completion)}))
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
    chosen = [embedded.lookup(n) for n in names]
    if args.action == "list":
        out.print(_models_table(chosen))
        return 0
    if not args.names:  # by default act only on what is installed
        chosen = [m for m in chosen if _installed(m)] or chosen[:1]
    for model in chosen:
        if args.action == "prepare":
            from .loading import load_model

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

    host, port = _host_port(args.tcp) if args.tcp else (None, None)
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="guidecode %(levelname)s %(name)s: %(message)s")
    server = build_server(ServerOptions(model=args.model, dtype=args.dtype, device=args.device))
    if host is None:
        server.start_io()  # stdout carries the protocol: nothing else may print there
    else:
        server.start_tcp(host, port)
    return 0


def cmd_bench(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.bench == "speed":
        return _bench_speed(args, out, err)
    if args.bench == "mgd":
        return _bench_mgd(args, out, err)
    if args.bench == "sandbox":
        return _bench_sandbox(args, out, err)
    import asyncio

    from benchmarks import lsp_typing

    text = read_source(args.file)
    lines = text.count("\n") + 1
    start = (args.start_line - 1) if args.start_line else lines // 2
    if start >= lines:
        raise UsageError(f"--start-line {start + 1} is past the end of {args.file} ({lines} lines)")
    if args.cps <= 0 or args.line_pause < 0:
        raise UsageError("--cps must be positive and --line-pause not negative")
    plan = lsp_typing.TypingPlan(args.file, start, args.chars, args.cps, args.line_pause)
    options = {"maxPromptTokens": args.max_prompt_tokens} if args.max_prompt_tokens else {}
    result = asyncio.run(lsp_typing.run(plan, args.model, args.dtype, options))
    print(json.dumps(result, indent=2) if args.json else lsp_typing.report(result))
    return 0


def _bench_sandbox(args: argparse.Namespace, out: Console, err: Console) -> int:
    from dataclasses import asdict

    from benchmarks import sandbox_overhead
    from benchmarks.environment import cpu_name

    setup = {"cpu": cpu_name(), "cores": os.cpu_count(), "bubblewrap": shutil.which("bwrap") or "not installed", "user": "root" if os.geteuid() == 0 else "unprivileged"}
    result = sandbox_overhead.run(args.repeat, args.jobs)
    if args.json:
        print(json.dumps({**setup, **result, "timings": [asdict(t) for t in result["timings"]]}, indent=2))
    else:
        out.print(sandbox_overhead.report(result, setup), markup=False, highlight=False, soft_wrap=True)
    return 0


def _bench_speed(args: argparse.Namespace, out: Console, err: Console) -> int:
    from benchmarks import speed
    from benchmarks.workloads import load_prompts

    from .loading import load_model

    try:
        files = speed.resolve_prompt_files(args.prompts or list(speed.SHIPPED))
        for _, path in files:
            load_prompts(path)  # a malformed file is reported before any model loads
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    progress = Progress.to_stderr()
    target = load_model(args.model, args.dtype, "cpu", False, progress)
    draft = load_model(args.draft_model, args.dtype, "cpu", False, progress) if args.draft_model else None
    result = speed.benchmark(target, draft, files, args.limit, args.repeat, progress=lambda line: err.print(line, style="dim"))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        out.print(speed.report(result))
    return 0


def _bench_mgd(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.progress import Progress as Bar

    from benchmarks import mgd
    from benchmarks.environment import describe
    from benchmarks.mgd_tasks import mine_tasks

    from .assistant import Assistant

    for repo in args.repo:
        if not repo.is_dir():
            raise UsageError(f"--repo {repo} is not a directory; pass a Python source tree")
    tasks = {}
    with Bar(console=err, transient=True) as bar:
        for repo in args.repo:
            job = bar.add_task(f"finding tasks in {repo.name}", total=None)
            found = mine_tasks(repo, args.limit, args.seed, progress=lambda done, total, job=job: bar.update(job, completed=done, total=total))
            tasks[repo.resolve()] = mgd.ordered(found)
    empty = [str(r) for r, t in tasks.items() if not t]
    if empty:
        raise UsageError(f"no tasks found in {', '.join(empty)}: it needs `obj.member` accesses whose member is defined in another file of the tree")
    monitors = MonitorConfig(language_server=args.language_server)
    results, setups = {repo: [] for repo in tasks}, {}
    for model in args.model or ["0.5b", "1.5b"]:
        config = AssistantConfig(model=model, dtype=args.dtype, max_prompt_tokens=args.max_prompt_tokens, monitors=monitors)
        assistant = Assistant.load(config, progress=Progress.to_stderr())
        setups[assistant.loaded.name] = assistant.description
        total = 2 * sum(len(t) for t in tasks.values())
        with Bar(console=err, transient=True) as bar:
            job = bar.add_task(f"{assistant.loaded.name}: completing", total=total)
            for repo, repo_tasks in tasks.items():
                results[repo] += mgd.run_model(assistant, repo, repo_tasks, args.max_tokens, on_task=lambda: bar.advance(job))
        assistant.close()
        del assistant
    setup = {
        "models": "; ".join(setups.values()),
        "language server": args.language_server,
        "greedy, max tokens": args.max_tokens,
        "prompt budget": args.max_prompt_tokens,
        "seed": args.seed,
        "speculation": "on (lossless)",
        **describe(),
    }
    if args.json:
        print(json.dumps([mgd.as_json(repo, r, setup) for repo, r in results.items()], indent=2))
    else:
        for repo, r in results.items():
            out.print(mgd.report(repo, r, setup), markup=False, highlight=False, soft_wrap=True)
    return 0


def cmd_compare(args: argparse.Namespace, out: Console, err: Console) -> int:
    from .evaluation import command

    return command.cmd_compare(args, out, err)


def cmd_eval(args: argparse.Namespace, out: Console, err: Console) -> int:
    from .evaluation import SettingsError, command

    try:
        settings = command.settings_from_args(args)
    except SettingsError as error:
        raise UsageError(str(error)) from None
    return command.run(settings, args.json, out, err)


def cmd_calibrate(args: argparse.Namespace, out: Console, err: Console) -> int:
    from . import calibration

    return calibration.command(args, out, err)


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--tcp expects HOST:PORT (e.g. 127.0.0.1:2087), got {text!r}")
    return host, int(port)


COMMANDS = {"complete": cmd_complete, "generate": cmd_generate, "models": cmd_models, "serve": cmd_serve, "bench": cmd_bench, "eval": cmd_eval, "compare": cmd_compare, "calibrate": cmd_calibrate, "sandbox": sandbox_command.cmd_sandbox}


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


if __name__ == "__main__":
    sys.exit(main())
