"""`guidecode bench scope`: do completions keep files well-formed in the languages of braces?

On files of pinned packages (benchmarks/scope_sources.py) whose original text parses without
errors, two kinds of task, chosen by a seed:
- block: a function's body (2 to 40 lines between a `{` that ends its line and a `}` that starts
  one) is replaced by one blank line, indented as the body's first line was, with the cursor on it.
  The completion is spliced in and the file re-parsed: OK when tree-sitter finds no ERROR or
  MISSING node. Also recorded: whether the assistant chose the BLOCK scope, and whether it stopped
  at the block's end: it ended on its own (not at the token limit) and never closed the body's
  `{` itself (a `}` token of the completion that takes the brace depth below zero).
- line: a line that ends in `)`, `]` or `;` tokens keeps them as the text after the cursor; the
  cursor follows an identifier or `(` of that line, and what stood between them is removed (a
  stretch of balanced brackets with no `;`, so what was removed is a right answer). The completion
  repeats the text after the cursor when, read as tokens, it closes a bracket it did not open (the
  kept text closes it already) or, when the kept text holds a `;`, it writes a `;` outside its own
  brackets. A line completion must also hold no newline. The spliced file is re-parsed too.
The prompt is the whole file; the assistant cuts it to its prompt budget around the cursor.
"""

from __future__ import annotations

import random
import re
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import tree_sitter

from assistant.assistant import Completion
from assistant.config import AssistantConfig
from assistant.languages.grammars import parser_for

from .environment import cpu_flags, cpu_name, describe
from .scope_sources import SourceFile

# Node types, across the grammars, of functions whose `body` field may be a `{ ... }` block.
JAVASCRIPT_FUNCTIONS = {"function_declaration", "generator_function_declaration", "function_expression", "function", "generator_function"}
FUNCTIONS = frozenset(
    JAVASCRIPT_FUNCTIONS
    | {"method_definition", "arrow_function"}  # JavaScript and TypeScript
    | {"method_declaration", "func_literal"}  # Go (with function_declaration), Java
    | {"function_item"}  # Rust
    | {"constructor_declaration", "compact_constructor_declaration"}  # Java
    | {"function_definition", "lambda_expression"}  # C, C++
)

# Bracket tokens: an opener may carry a sigil (`${` of a template string, `#{`), a closer never does.
OPEN, CLOSE = ("(", "[", "{"), (")", "]", "}")
LINE_ENDS = {")", "]", ";"}  # a line task keeps the trailing run of these tokens after the cursor
MIN_BODY_LINES, MAX_BODY_LINES = 2, 40


@dataclass(frozen=True)
class Task:
    kind: str  # "block" or "line"
    file: SourceFile
    name: str  # block: the function's name; line: the original line
    line: int  # 1-based line of the cursor
    text: str  # the document the assistant completes
    cursor: int  # character offset in `text`
    truth: str  # what was removed at the cursor
    suffix: str = ""  # line: the tokens kept after the cursor

    @property
    def language(self) -> str:
        return self.file.source.language


class Complete(Protocol):
    """`Assistant.complete`, or a stand-in for tests."""

    def __call__(self, text: str, cursor: int, *, path: str) -> Completion: ...


# --------------------------------------------------------------------------- tasks


def parse(language: str, text: str) -> tree_sitter.Tree:
    parser = parser_for(language)
    assert parser is not None, f"no tree-sitter grammar for {language}"
    return parser.parse(text.encode("utf-8"))


def leaves(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    """The tokens under `node` in text order, leaving out zero-width ones (tree-sitter's MISSING)."""
    if node.child_count == 0:
        if node.end_byte > node.start_byte:
            yield node
        return
    for child in node.children:
        yield from leaves(child)


def _functions(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    if node.type in FUNCTIONS:
        yield node
    for child in node.children:
        yield from _functions(child)


def _name(function: tree_sitter.Node) -> str:
    """The function's name: its `name`, the innermost name of a C declarator, or what it is assigned to."""
    node: tree_sitter.Node | None = function
    while node is not None and node.child_by_field_name("name") is None and node.child_by_field_name("declarator") is not None:
        node = node.child_by_field_name("declarator")
    found = node.child_by_field_name("name") if node is not None else None
    if found is None and node is not None and node is not function and node.child_count == 0:
        found = node  # a C declarator chain ends in the identifier itself
    if found is None and function.parent is not None:
        found = function.parent.child_by_field_name("name") or function.parent.child_by_field_name("left")
    return (found.text or b"").decode("utf-8", "replace") if found is not None else "<anonymous>"


def block_tasks(file: SourceFile) -> list[Task]:
    """One task per function of the file whose body qualifies; none for a file that does not parse."""
    data = file.text.encode("utf-8")
    tree = parse(file.source.language, file.text)
    if tree.root_node.has_error or b"\r" in data:
        return []
    lines = data.split(b"\n")
    out = []
    for function in _functions(tree.root_node):
        body = function.child_by_field_name("body")
        if body is None or body.child_count < 2 or body.children[0].type != "{" or body.children[-1].type != "}":
            continue
        opening, closing = body.children[0], body.children[-1]
        top, bottom = opening.start_point.row, closing.start_point.row
        first = lines[top + 1] if top + 1 < len(lines) else b""
        if not MIN_BODY_LINES <= bottom - top - 1 <= MAX_BODY_LINES or not first.strip():
            continue
        if lines[top][opening.end_point.column :].strip() or lines[bottom][: closing.start_point.column].strip():
            continue  # the `{` must end its line and the `}` start its own
        indent = first[: len(first) - len(first.lstrip(b" \t"))]
        body_start = opening.start_byte - opening.start_point.column + len(lines[top]) + 1  # the first body line
        closing_line = closing.start_byte - closing.start_point.column
        before = data[: body_start + len(indent)]
        document = before + b"\n" + data[closing_line:]
        truth = data[len(before) : closing_line - 1]
        out.append(Task("block", file, _name(function), top + 2, document.decode("utf-8"), len(before.decode("utf-8")), truth.decode("utf-8")))
    return out


def line_tasks(file: SourceFile) -> list[list[Task]]:
    """Per qualifying line of the file, its tasks (one per possible cursor)."""
    data = file.text.encode("utf-8")
    tree = parse(file.source.language, file.text)
    if tree.root_node.has_error or b"\r" in data:
        return []
    rows: dict[int, list[tree_sitter.Node]] = {}
    for leaf in leaves(tree.root_node):
        rows.setdefault(leaf.start_point.row, []).append(leaf)
    lines = data.split(b"\n")
    out = []
    for row, tokens in rows.items():
        line = lines[row]
        whole = tokens[0].start_point.column == len(line) - len(line.lstrip()) and tokens[-1].end_point == (row, len(line.rstrip()))
        if not whole or any("comment" in t.type for t in tokens):
            continue  # a token that spans lines, or a comment: not a line of code alone
        end = len(tokens)
        while end > 0 and tokens[end - 1].type in LINE_ENDS:
            end -= 1
        if end == len(tokens):
            continue
        found = [t for t in (_line_task(file, data, row, tokens, i, end) for i in range(end - 1)) if t is not None]
        if found:
            out.append(found)
    return out


def _line_task(file: SourceFile, data: bytes, row: int, tokens: list[tree_sitter.Node], i: int, end: int) -> Task | None:
    """The cursor after token `i`, keeping tokens from `end` on: None where that is no task."""
    if not (tokens[i].type == "(" or tokens[i].type.endswith("identifier")):
        return None
    middle = [t.type for t in tokens[i + 1 : end]]
    if not middle or ";" in middle or _lowest_depth(middle) < 0 or _depth(middle) != 0:
        return None
    cursor, kept = tokens[i].end_byte, tokens[end].start_byte
    document = data[:cursor] + data[kept:]
    line_start = tokens[0].start_byte - tokens[0].start_point.column
    suffix = data[kept : tokens[-1].end_byte].decode("utf-8")
    original = data[line_start : tokens[-1].end_byte].decode("utf-8").strip()
    text = document.decode("utf-8")
    return Task("line", file, original, row + 1, text, len(data[:cursor].decode("utf-8")), data[cursor:kept].decode("utf-8"), suffix)


def _depth(types: list[str]) -> int:
    return sum(_step(t) for t in types)


def _step(token: str) -> int:
    return 1 if token.endswith(OPEN) and len(token) <= 2 else -1 if token in CLOSE else 0


def _lowest_depth(types: list[str]) -> int:
    depth = lowest = 0
    for t in types:
        depth += _step(t)
        lowest = min(lowest, depth)
    return lowest


def pick(files: list[SourceFile], per_language: int, seed: int) -> list[Task]:
    """`per_language` block and line tasks per language, chosen by `seed` (a language's choice does
    not depend on which other languages run), ordered by file and position so that consecutive
    prompts share their beginning (the engine reuses its keys and values)."""
    chosen = []
    for language in sorted({f.source.language for f in files}):
        mine = [f for f in files if f.source.language == language]
        rng = random.Random(f"{seed}:{language}")
        blocks = [t for f in mine for t in block_tasks(f)]
        lines = [c for f in mine for c in line_tasks(f)]
        chosen += rng.sample(blocks, min(per_language, len(blocks)))
        chosen += [rng.choice(c) for c in rng.sample(lines, min(per_language, len(lines)))]
    return sorted(chosen, key=lambda t: (t.language, t.file.source.package, t.file.relative, t.cursor, t.kind))


# --------------------------------------------------------------------------- checks


def splice(task: Task, completion: str) -> str:
    return task.text[: task.cursor] + completion + task.text[task.cursor :]


def completion_tokens(task: Task, completion: str) -> tuple[list[str], bool]:
    """The token types the completion holds once spliced in, and whether the spliced file parses
    without errors."""
    tree = parse(task.language, splice(task, completion))
    start = len(task.text[: task.cursor].encode("utf-8"))
    end = start + len(completion.encode("utf-8"))
    types = [leaf.type for leaf in leaves(tree.root_node) if start <= leaf.start_byte and leaf.end_byte <= end]
    return types, not tree.root_node.has_error


def check_block(task: Task, completion: Completion) -> dict:
    types, parses = completion_tokens(task, completion.text)
    braces = [t for t in types if t.endswith("{") or t == "}"]
    wrote_past_end = _lowest_depth(braces) < 0
    return {
        "parses": parses,
        "block_scope": completion.scope == "block",
        "stopped_at_block_end": completion.stop_reason != "max_tokens" and not wrote_past_end,
        "wrote_past_block_end": wrote_past_end,
        "lines": len(completion.text.split("\n")) if completion.text else 0,
    }


def check_line(task: Task, completion: Completion) -> dict:
    types, parses = completion_tokens(task, completion.text)
    brackets = [t for t in types if _step(t)]
    outside = [t for i, t in enumerate(types) if t == ";" and _depth(types[:i]) == 0]
    last = completion.text.rsplit("\n", 1)[-1].rstrip()
    return {
        "parses": parses,
        "line_scope": completion.scope == "line",
        "repeats_suffix": _lowest_depth(brackets) < 0 or bool(outside and ";" in task.suffix),
        "ends_with_suffix": bool(task.suffix.strip()) and last.endswith(task.suffix.strip()),
        "newline": "\n" in completion.text,
        "empty": not completion.text.strip(),
    }


# --------------------------------------------------------------------------- running


@dataclass
class Case:
    task: Task
    completion: Completion
    flags: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        t, c = self.task, self.completion
        return {
            "language": t.language,
            "kind": t.kind,
            "package": f"{t.file.source.package} {t.file.source.version}",
            "file": t.file.relative,
            "name": t.name,
            "line": t.line,
            "suffix": t.suffix,
            "truth": t.truth,
            "completion": c.text,
            "scope": c.scope,
            "stop_reason": c.stop_reason,
            "tokens": c.tokens,
            "seconds": round(c.seconds, 4),
            **self.flags,
        }


def run(complete: Complete, tasks: list[Task], on_case: Callable[[Case], None] = lambda case: None) -> list[Case]:
    cases = []
    for task in tasks:
        completion = complete(task.text, task.cursor, path=str(task.file.path))
        check = check_block if task.kind == "block" else check_line
        cases.append(Case(task, completion, check(task, completion)))
        on_case(cases[-1])
    return cases


def _share(cases: list[Case], flag: str) -> float | None:
    return sum(bool(c.flags[flag]) for c in cases) / len(cases) if cases else None


def summary(cases: list[Case]) -> dict[str, dict]:
    """Per language: counts and shares of the flags, and the median seconds per completion."""
    out = {}
    for language in sorted({c.task.language for c in cases}):
        mine = [c for c in cases if c.task.language == language]
        blocks, lines = [c for c in mine if c.task.kind == "block"], [c for c in mine if c.task.kind == "line"]
        out[language] = {
            "block_tasks": len(blocks),
            "block_scope": _share(blocks, "block_scope"),
            "block_parses": _share(blocks, "parses"),
            "stopped_at_block_end": _share(blocks, "stopped_at_block_end"),
            "block_lines_mean": statistics.mean(c.flags["lines"] for c in blocks) if blocks else None,
            "line_tasks": len(lines),
            "line_scope": _share(lines, "line_scope"),
            "line_repeats": _share(lines, "repeats_suffix"),
            "line_newlines": _share(lines, "newline"),
            "line_empty": _share(lines, "empty"),
            "line_parses": _share(lines, "parses"),
            "seconds_per_completion_p50": statistics.median(c.completion.seconds for c in mine),
        }
    return out


def machine_kind() -> str:
    """The machine kind result files are named by (benchmarks/report.py's MACHINES), else the CPU's architecture."""
    flags, name = cpu_flags(), cpu_name()
    if "amx_tile" in flags:
        return "amx-xeon"
    if "AMD" in name and "avx512_bf16" in flags:
        return "avx512-epyc"
    if "AMD" in name and "avx2" in flags:
        return "avx2-epyc"
    return re.sub(r"[^\w.-]+", "-", name.lower()).strip("-") or "unknown"


def default_out(model: str, machine: str) -> Path:
    """benchmarks/results/scope-<machine>-<model>.json, the model as it was named (`0.5b`, a path's last part)."""
    name = re.sub(r"[^\w.-]+", "-", Path(model).name.lower()).strip("-")
    return Path(__file__).parent / "results" / f"scope-{machine}-{name}.json"


def setup(model: str, config: AssistantConfig, per_language: int, seed: int) -> dict:
    """How a run was obtained: the model as loaded, the task choice, the decoding limits, the machine."""
    choice = {"model": model, "machine_kind": machine_kind(), "per_language": per_language, "seed": seed}
    return {**choice, "max_tokens": config.max_new_tokens, "max_prompt_tokens": config.max_prompt_tokens, "decoding": "greedy", **describe()}


def as_json(cases: list[Case], setup: dict, sources: list[dict]) -> dict:
    languages = ", ".join(sorted({s["language"] for s in sources}))
    how = (
        f"guidecode bench scope, {setup['model']}, {setup['per_language']} block and {setup['per_language']} line tasks per language "
        f"({languages}) chosen with seed {setup['seed']} from pinned npm, Debian and PyPI packages; greedy, at most {setup['max_tokens']} tokens"
    )
    return {
        "how": how,
        "machine_kind": setup["machine_kind"],
        "setup": setup,
        "sources": sources,
        "summary": summary(cases),
        "cases": [c.to_json() for c in cases],
    }


CAPTION = (
    "blocks / lines: tasks of each kind; scope: the assistant chose BLOCK (LINE); parses: the file with the completion spliced in "
    "parses without errors; ends: stopped at the block's end on its own; len: mean lines of a block completion; repeats: the line "
    "completion writes again what follows the cursor; s: median seconds per completion"
)


def report(result: dict):
    """The summary as a rich table, one row per language (narrow enough for 80 columns)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from .scope_sources import LANGUAGES

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0%}"

    short = {language: name for name, language in LANGUAGES.items()}
    table = Table(title=Text(result["how"]), title_justify="left", caption=Text(CAPTION), caption_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True)
    columns = ["lang", "blocks", "scope", "parses", "ends", "len", "lines", "scope", "repeats", "parses", "s"]
    for column in columns:
        table.add_column(column, justify="left" if column == "lang" else "right")
    for language, s in result["summary"].items():
        mean = s["block_lines_mean"]
        table.add_row(
            short.get(language, language),
            str(s["block_tasks"]),
            pct(s["block_scope"]),
            pct(s["block_parses"]),
            pct(s["stopped_at_block_end"]),
            "n/a" if mean is None else f"{mean:.1f}",
            str(s["line_tasks"]),
            pct(s["line_scope"]),
            pct(s["line_repeats"]),
            pct(s["line_parses"]),
            f"{s['seconds_per_completion_p50']:.2f}",
        )
    return table
