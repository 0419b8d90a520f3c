"""`guidecode bench`: the benchmarks of benchmarks/ from the command line (lsp, mgd, passes, repo, sandbox, scope, speed)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, cast

from rich.console import Console

from .. import embedded
from ..config import LANGUAGE_SERVERS, AssistantConfig, MonitorConfig
from ..options import OPTION, WEIGHTS
from ..progress import Progress
from .args import Parser, UsageError, positive_int, read_source
from .flags import add_flags

if TYPE_CHECKING:
    from transformers import PreTrainedModel

MGD_LANGUAGES = ("python", "typescript", "javascript", "c", "cpp", "go")  # benchmarks/mgd_lsp_tasks.py: all but Python


def add_parser(commands) -> None:
    bench = commands.add_parser("bench", help="benchmarks (see benchmarks/)")
    benches = bench.add_subparsers(dest="bench", required=True, parser_class=Parser)
    typing = benches.add_parser("lsp", help="replay typing a file through the language server")
    typing.add_argument("--file", required=True, type=Path, help="a Python file to replay (one the project did not write)")
    typing.add_argument("--model", default=embedded.DEFAULT_MODEL)
    typing.add_argument("--dtype", default="auto")
    typing.add_argument("--start-line", type=positive_int, help="1-based line where typing starts (default: the middle)")
    typing.add_argument("--lines", type=positive_int, default=20, help="lines to type (default: %(default)s)")
    typing.add_argument("--cps", type=float, default=8.0, help="typing speed in characters per second (default: %(default)s)")
    typing.add_argument("--pause-min", type=float, default=0.3, help="shortest pause in seconds, at line ends and at random (default: %(default)s)")
    typing.add_argument("--pause-max", type=float, default=1.0, help="longest pause in seconds (default: %(default)s)")
    typing.add_argument("--random-pauses", type=float, default=0.04, help="chance of a pause after a keystroke within a line (default: %(default)s)")
    typing.add_argument("--seed", type=int, default=0, help="seed of the pauses' places and lengths (default: %(default)s)")
    typing.add_argument("--no-accept", action="store_true", help="never accept ghost text (default: accept it when it is exactly what comes next)")
    typing.add_argument("--max-prompt-tokens", type=positive_int, help="the server's prompt budget (default: the server's)")
    typing.add_argument("--debounce-ms", type=int, help="the server's debounce before a generation starts (default: the server's)")
    typing.add_argument("--json", action="store_true")
    mgd = benches.add_parser("mgd", help="monitor-guided decoding on a source tree: with and without monitors, side by side")
    mgd.add_argument("--repo", action="append", type=Path, metavar="DIR", help="a source tree in --language (repeatable)")
    mgd.add_argument("--source", action="append", metavar="NAME", help="a pinned source tree fetched into the cache: rxjs, brotli, pflag (repeatable)")
    mgd.add_argument("--language", choices=MGD_LANGUAGES, help="the trees' language (default: the --source's, else python)")
    mgd.add_argument("--limit", type=positive_int, default=30, help="tasks per tree (default: %(default)s)")
    mgd.add_argument("--model", action="append", help="model(s) to compare (repeatable; default: 0.5b and 1.5b)")
    mgd.add_argument("--dtype", default="auto")
    mgd.add_argument("--language-server", choices=LANGUAGE_SERVERS, default="jedi", help="Python's (other languages: their own server)")
    mgd.add_argument("--no-name-choice", action="store_true", help="with monitors, choose members token by token (plain masked greedy)")
    mgd.add_argument("--max-tokens", type=positive_int, default=32, help="most tokens per completion (default: %(default)s)")
    mgd.add_argument("--max-prompt-tokens", type=positive_int, default=1024, help="prompt budget (default: %(default)s)")
    mgd.add_argument("--seed", type=int, default=0, help="which positions are sampled from each tree")
    mgd.add_argument("--json", action="store_true")
    repo = benches.add_parser("repo", help="next-line completion in a Python source tree: with and without repository context, side by side")
    repo.add_argument(
        "--source", required=True, metavar="DIR|NAME", help="a Python source tree, or a pinned one fetched into the cache: jinja2, werkzeug, httpx"
    )
    repo.add_argument(
        "--lines",
        choices=("cross-file", "in-file"),
        default="cross-file",
        help="tasks whose line uses a name of another file of the tree, or (the control) only names of its own file (default: %(default)s)",
    )
    repo.add_argument("--limit", type=positive_int, default=50, help="tasks, spread over the tree's files (default: %(default)s)")
    repo.add_argument("--model", default=embedded.DEFAULT_MODEL)
    repo.add_argument("--dtype", default="auto")
    repo.add_argument("--context-tokens", type=positive_int, default=384, help="the repository context's budget with context (default: %(default)s)")
    add_flags(repo, ("context_when", "context_confidence"))
    repo.add_argument("--max-tokens", type=positive_int, default=48, help="most tokens per completion (default: %(default)s)")
    repo.add_argument("--max-prompt-tokens", type=positive_int, help="prompt budget (default: the assistant's)")
    repo.add_argument("--seed", type=int, default=0, help="which lines are chosen")
    repo.add_argument("--out", type=Path, help="the JSON result file (default: benchmarks/results/repo-<machine>-<model>-<source>[-in-file].json)")
    repo.add_argument("--json", action="store_true", help="print the result file's JSON instead of the table")
    passes = benches.add_parser("passes", help="what a forward pass costs here by its number of tokens: float32, bf16, bf16 with prompts in float32")
    passes.add_argument("--model", default=embedded.DEFAULT_MODEL)
    passes.add_argument("--context", type=positive_int, default=300, help="prompt tokens before the timed passes (default: %(default)s)")
    passes.add_argument("--repeat", type=positive_int, default=5, help="timings per figure; the median is reported (default: %(default)s)")
    passes.add_argument("--json", action="store_true")
    box = benches.add_parser("sandbox", help="a sandboxed run's overhead over a bare Python start, and parallel throughput")
    box.add_argument("--repeat", type=positive_int, default=50, help="sequential runs per method (default: %(default)s)")
    box.add_argument("--jobs", type=positive_int, default=100, help="runs for the throughput figure (default: %(default)s)")
    box.add_argument("--json", action="store_true")
    scope = benches.add_parser("scope", help="whether completions keep files of braces well-formed, on npm, Debian and PyPI sources")
    scope.add_argument("--model", default=embedded.DEFAULT_MODEL)
    scope.add_argument("--dtype", default="auto")
    scope.add_argument("--languages", default="all", help="comma-separated: ts, tsx, js, go, rust, java, c, cpp (default: %(default)s)")
    scope.add_argument("--per-language", type=positive_int, default=10, help="block tasks, and as many line tasks, per language (default: %(default)s)")
    scope.add_argument("--seed", type=int, default=0, help="which functions and lines are chosen")
    scope.add_argument("--max-tokens", type=positive_int, default=128, help="most tokens per completion (default: %(default)s)")
    scope.add_argument("--max-prompt-tokens", type=positive_int, help="prompt budget around the cursor (default: the assistant's)")
    scope.add_argument("--out", type=Path, help="the JSON result file (default: benchmarks/results/scope-<machine>-<model>.json)")
    scope.add_argument("--json", action="store_true", help="print the result file's JSON instead of the table")
    speed = benches.add_parser("speed", help="speculative decoding against transformers (and llama.cpp when installed), side by side")
    speed.add_argument(
        "--prompts",
        action="append",
        metavar="FILE.jsonl",
        help="a JSONL file of {id, prompt, max_new_tokens?}, or a shipped workload: humaneval, infile, edit (repeatable; default: all three)",
    )
    speed.add_argument("--model", default=embedded.DEFAULT_MODEL)
    speed.add_argument("--draft-model", help="a smaller model with the same tokenizer (adds assisted generation and our draft-model drafter)")
    speed.add_argument("--dtype", default="auto")
    speed.add_argument(
        "--weights",
        choices=WEIGHTS,
        default="auto",
        help="what our model (and draft) run from; transformers' copies always run dense (default: %(default)s: quantized for GGUF models on a CPU)",
    )
    speed.add_argument("--limit", type=positive_int, help="only the first N prompts of each file")
    speed.add_argument("--repeat", type=positive_int, default=1, help="timed repetitions per method and prompt; the median is reported")
    speed.add_argument("--json", action="store_true")


def cmd_bench(args: argparse.Namespace, out: Console, err: Console) -> int:
    if args.bench == "speed":
        return _bench_speed(args, out, err)
    if args.bench == "mgd":
        return _bench_mgd(args, out, err)
    if args.bench == "sandbox":
        return _bench_sandbox(args, out, err)
    if args.bench == "passes":
        return _bench_passes(args, out, err)
    if args.bench == "scope":
        return _bench_scope(args, out, err)
    if args.bench == "repo":
        return _bench_repo(args, out, err)
    import asyncio

    from benchmarks import lsp_typing

    text = read_source(args.file)
    lines = text.count("\n") + 1
    start = (args.start_line - 1) if args.start_line else lines // 2
    if start >= lines:
        raise UsageError(f"--start-line {start + 1} is past the end of {args.file} ({lines} lines)")
    if args.cps <= 0 or not 0 <= args.pause_min <= args.pause_max or not 0 <= args.random_pauses <= 1:
        raise UsageError("--cps must be positive, 0 <= --pause-min <= --pause-max, and --random-pauses between 0 and 1")
    lines_typed = min(args.lines, lines - start)
    plan = lsp_typing.TypingPlan(
        args.file, start, lines_typed, args.cps, args.pause_min, args.pause_max, args.random_pauses, args.seed, accept=not args.no_accept
    )
    chosen = {"max_prompt_tokens": args.max_prompt_tokens, "debounce_ms": args.debounce_ms}
    for name, value in chosen.items():  # the server's own rules, so the replay never runs on a default it fell back to
        if value is not None and (why := OPTION[name].check(value)) is not None:
            raise UsageError(f"{OPTION[name].cli_flag} {why}, got {value}")
    options = {OPTION[name].key: value for name, value in chosen.items() if value is not None}
    result = asyncio.run(lsp_typing.run(plan, args.model, args.dtype, options))
    print(json.dumps(result, indent=2) if args.json else lsp_typing.report(result))
    return 0


def _bench_sandbox(args: argparse.Namespace, out: Console, err: Console) -> int:
    from dataclasses import asdict

    from benchmarks import sandbox_overhead
    from benchmarks.environment import cpu_name

    setup = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "bubblewrap": shutil.which("bwrap") or "not installed",
        "user": "root" if os.geteuid() == 0 else "unprivileged",
    }
    result = sandbox_overhead.run(args.repeat, args.jobs)
    if args.json:
        print(json.dumps({**setup, **result, "timings": [asdict(t) for t in result["timings"]]}, indent=2))
    else:
        out.print(sandbox_overhead.report(result, setup), markup=False, highlight=False, soft_wrap=True)
    return 0


def _bench_scope(args: argparse.Namespace, out: Console, err: Console) -> int:
    from benchmarks import scope_parse, scope_sources

    from ..assistant import Assistant

    try:
        languages = scope_sources.languages(args.languages)
    except ValueError as error:
        raise UsageError(f"--languages: {error}") from None
    progress = Progress.to_stderr()
    with progress.phase("fetching the source packages (once; they are kept in the cache)"):
        fetched = scope_sources.fetch_all(languages)
    tasks = scope_parse.pick([f for package in fetched for f in package.files()], args.per_language, args.seed)
    budget = {"max_prompt_tokens": args.max_prompt_tokens} if args.max_prompt_tokens else {}
    assistant = Assistant.load(AssistantConfig(model=args.model, dtype=args.dtype, max_new_tokens=args.max_tokens, **budget), progress=progress)
    with progress.count(f"{assistant.loaded.name}: completing", len(tasks)) as advance:
        cases = scope_parse.run(assistant.complete, tasks, on_case=lambda case: advance(1, case.task.language))
    how = scope_parse.setup(assistant.description, assistant.config, args.per_language, args.seed)
    result = scope_parse.as_json(cases, how, [package.to_json() for package in fetched])
    path = args.out or scope_parse.default_out(args.model, how["machine_kind"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        out.print(scope_parse.report(result))
    err.print(f"wrote {path}", style="dim", markup=False, highlight=False)
    return 0


def _bench_passes(args: argparse.Namespace, out: Console, err: Console) -> int:
    from benchmarks import passes

    from ..loading import load_model

    progress = Progress.to_stderr()
    float32 = load_model(args.model, "float32", "cpu", False, progress, weights="dense")
    bf16 = load_model(args.model, "bfloat16", "cpu", False, progress, weights="dense")
    quantized = load_model(args.model, "bfloat16", "cpu", False, progress, weights="quantized")
    # load_model returns a transformers model; LoadedModel types it as a plain Module, whose
    # attributes read as Tensor | Module
    vocab = cast("PreTrainedModel", float32.model).config.vocab_size
    prompt = [(1009 * i + 17) % vocab for i in range(args.context)]  # fixed tokens: every route gets the same
    results = passes.run(float32.model, bf16.model, prompt, args.repeat, progress=lambda line: err.print(line, style="dim"), quantized=quantized.model)
    how = passes.setup(float32.name, args.context, args.repeat)
    if args.json:
        print(json.dumps(passes.to_json(results, how), indent=2))
    else:
        out.print(passes.report(results, how), markup=False, highlight=False, soft_wrap=True)
    return 0


def _bench_speed(args: argparse.Namespace, out: Console, err: Console) -> int:
    from benchmarks import llama_cpp_peer, speed
    from benchmarks.speed_summary import report
    from benchmarks.workloads import load_prompts

    from ..loading import load_model

    try:
        files = speed.resolve_prompt_files(args.prompts or list(speed.SHIPPED))
        for _, path in files:
            load_prompts(path)  # a malformed file is reported before any model loads
    except (FileNotFoundError, ValueError) as error:
        raise UsageError(str(error)) from None
    progress = Progress.to_stderr()

    def load(spec: str | None, weights: str):
        return load_model(spec, args.dtype, "cpu", False, progress, weights=weights) if spec else None

    # The stock copies load first and separately: our engine changes the model it runs, and
    # transformers' methods must time the model transformers users have, so dense whatever ours run.
    stock_target, stock_draft = load(args.model, "dense"), load(args.draft_model, "dense")
    target = load(args.model, args.weights)
    if target is None or stock_target is None:  # only an empty --model loads nothing
        raise UsageError("--model must name a model")
    models = speed.Models(target, stock_target, load(args.draft_model, args.weights), stock_draft)
    peer = llama_cpp_peer.plan(args.model)
    err.print(peer.note, style="dim", markup=False, highlight=False, soft_wrap=True)
    result = speed.benchmark(models, files, args.limit, args.repeat, progress=lambda line: err.print(line, style="dim"), peer=peer)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        out.print(report(result), width=None if out.is_terminal else 200)  # a file or pipe gets the table unwrapped
    if not result["lossless"]:
        err.print(
            "guidecode: NOT LOSSLESS: a speculative method of ours gave tokens other than ours without speculation (see '= ours plain')",
            style="bold red",
            markup=False,
            highlight=False,
        )
        return 1
    return 0


def _bench_mgd(args: argparse.Namespace, out: Console, err: Console) -> int:
    from rich.progress import Progress as Bar

    from benchmarks import mgd
    from benchmarks.environment import describe

    from ..assistant import Assistant

    language, roots = _mgd_trees(args)
    trees: list[mgd.Tree] = []
    try:
        with Bar(console=err, transient=True) as bar:
            for root in roots:
                job = bar.add_task(f"finding tasks in {root.name}", total=None)
                trees.append(mgd.mine(root, language, args.limit, args.seed, lambda done, total, job=job: bar.update(job, completed=done, total=total)))
        empty = [str(tree.root) for tree in trees if not tree.tasks]
        if empty:
            raise UsageError(f"no tasks found in {', '.join(empty)}: it needs {mgd.TASK_HINTS['python' if language == 'python' else 'other']}")
        monitors = MonitorConfig(language_server=args.language_server, choose_names=not args.no_name_choice)
        results, setups = {tree.root: [] for tree in trees}, {}
        for model in args.model or ["0.5b", "1.5b"]:
            config = AssistantConfig(model=model, dtype=args.dtype, max_prompt_tokens=args.max_prompt_tokens, monitors=monitors)
            assistant = Assistant.load(config, progress=Progress.to_stderr())
            setups[assistant.loaded.name] = assistant.description
            with Bar(console=err, transient=True) as bar:
                job = bar.add_task(f"{assistant.loaded.name}: completing", total=2 * sum(len(tree.tasks) for tree in trees))
                for tree in trees:
                    results[tree.root] += mgd.run_model(assistant, tree.root, tree.tasks, args.max_tokens, tree.scoring, on_task=partial(bar.advance, job))
            assistant.close()
            del assistant
    finally:
        for tree in trees:
            tree.close()
    setup = {
        "models": "; ".join(setups.values()),
        "language": language,
        "language server": mgd.server_description(language, args.language_server),
        "greedy, max tokens": args.max_tokens,
        "prompt budget": args.max_prompt_tokens,
        "seed": args.seed,
        "speculation": "on (lossless)",
        "whole-name choice": "off" if args.no_name_choice else "on",
        **describe(),
    }
    if args.json:
        print(json.dumps([mgd.as_json(tree.root, results[tree.root], setup, tree.about) for tree in trees], indent=2))
    else:
        for tree in trees:
            out.print(mgd.report(tree.root, results[tree.root], setup, tree.about), markup=False, highlight=False, soft_wrap=True)
    return 0


def _bench_repo(args: argparse.Namespace, out: Console, err: Console) -> int:
    from benchmarks import repo_bench, repo_lines

    from ..assistant import Assistant

    progress = Progress.to_stderr()
    try:
        with progress.phase(f"finding {args.source} (a pinned tree is fetched once and kept in the cache)"):
            tree = repo_lines.tree(args.source)
    except ValueError as error:
        raise UsageError(f"--source {error}") from None
    with progress.phase(f"finding {args.lines} next-line tasks in {tree.root}"):
        found = repo_lines.build(tree.root, args.limit, args.seed, args.lines)
    if not found.tasks:
        where = "another Python file of the tree" if args.lines == "cross-file" else "their own file, and none imported from the tree"
        raise UsageError(f"no tasks found in {tree.root}: it needs lines that use a name defined in {where}")
    budget = {"max_prompt_tokens": args.max_prompt_tokens} if args.max_prompt_tokens else {}
    context = {"context_tokens": args.context_tokens, "context_when": args.context_when, "context_confidence": args.context_confidence}
    # monitors off: the two settings differ by the repository context alone
    config = AssistantConfig(model=args.model, dtype=args.dtype, max_new_tokens=args.max_tokens, monitors=MonitorConfig(enabled=()), **budget, **context)
    assistant = Assistant.load(config, progress=progress)
    try:
        with progress.count(f"{assistant.loaded.name}: completing, with and without context", 2 * len(found.tasks)) as advance:
            run = repo_bench.run(
                assistant, tree.root, found.tasks, args.max_tokens, on_completion=lambda arm: advance(1, f"{arm.key}: {arm.exact}/{arm.tasks} exact")
            )
    finally:
        assistant.close()
    how = repo_bench.setup(assistant.description, args.model, config, tree, args.limit, args.seed, args.lines)
    result = repo_bench.as_json(run, how, found)
    path = args.out or repo_bench.default_out(args.model, how["machine_kind"], tree.name, args.lines, args.context_when)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n")
    if args.json:
        print(json.dumps(result, indent=1, ensure_ascii=False))
    else:
        out.print(repo_bench.report(result), markup=False, highlight=False, soft_wrap=True)
    err.print(f"wrote {path}", style="dim", markup=False, highlight=False)
    return 0


def _mgd_trees(args: argparse.Namespace) -> tuple[str, list[Path]]:
    """The language and the source trees of `bench mgd`: --repo folders, and --source trees fetched now."""
    from benchmarks import mgd_sources

    unknown = [name for name in args.source or [] if name not in mgd_sources.SOURCES]
    if unknown:
        raise UsageError(f"unknown --source {unknown[0]!r}; choose from {', '.join(mgd_sources.SOURCES)}")
    if not args.repo and not args.source:
        raise UsageError("pass a source tree: --repo DIR, or --source NAME for a pinned one")
    for repo in args.repo or []:
        if not repo.is_dir():
            raise UsageError(f"--repo {repo} is not a directory; pass a source tree")
    sources = [mgd_sources.SOURCES[name] for name in args.source or []]
    language = args.language or (sources[0].language if sources else "python")
    mismatched = [source.name for source in sources if source.language != language]
    if mismatched:
        raise UsageError(f"--source {mismatched[0]} is {mgd_sources.SOURCES[mismatched[0]].language}, not {language}; one language per run")
    fetched = []
    if sources:
        with Progress.to_stderr().phase("fetching the pinned source trees (once; they are kept in the cache)"):
            fetched = [mgd_sources.fetch(source.name) for source in sources]
    return language, [*(args.repo or []), *fetched]
