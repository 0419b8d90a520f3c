"""Monitor-guided decoding tasks mined from any Python source tree, and a checker of member accesses.

The setting is PragmaticCode from "Guiding Language Models of Code with Global Context using
Monitors" (Agrawal et al., 2023): the model completes a file right after `obj.`, and the member it
should write is defined in *another* file of the repository, so it cannot be copied from the prompt.

A task is one attribute access `X.member` in a repository file such that

- the file is a `.py` file no larger than `MAX_FILE_BYTES`, readable as UTF-8, that `ast` parses;
  directories named in `SKIPPED_DIRS` and hidden directories are not walked (tests are skipped:
  their accesses mostly go to pytest/mock objects, and the benchmark is about library code);
- `ast` sees an `Attribute` node there that is read (not an assignment or `del` target: assigning
  may create the member, so "the member must exist" does not hold there), and the tokenizer sees
  its dot as an operator (so no dots inside strings, f-strings or comments), outside
  `import`/`from` statements;
- the member's name starts right after the dot (`x . y` and `x.\\ny` are skipped: the prompt ends
  with the dot and the model is expected to write the name next);
- the dot is not the first non-blank character of its line (leading-dot continuation lines such as
  `    .filter(...)`: a prompt ending in an indented lone dot is not what an editor user types);
- jedi resolves the member (`goto` with `follow_imports=True`; `infer` when goto finds nothing,
  keeping only definitions named like the member, since infer also returns the *type* of an
  attribute) to definitions of which none is in the same file and at least one is in another `.py`
  file inside the repository. That drops `self.x` with `x` assigned in the same file, everything
  from the standard library and other installed packages, and `.pyi` stubs. Members that are
  modules (`pkg.submodule`) are dropped: their "definition" is a whole file, not a name.

Choice is deterministic for a seed: the files are shuffled with `random.Random(seed)`, and each
file's accesses with a generator seeded by (seed, file), so that one file's picks do not depend on
which files came before it. Accesses are tried in that order until `per_file` qualify; the tasks
of a file are kept in source order. Mining stops once `limit` tasks are found.

A file whose jedi analysis runs over `FILE_BUDGET_S` is abandoned (its tasks dropped) and counted
in `MiningReport.skipped_slow`. The budget is checked between jedi calls, so one slow call can
overrun it; and since it is wall-clock time, a loaded machine may drop files a quiet one keeps.
jedi raises internal errors on some valid code (an AttributeError inside its inference, seen on
parso's sources); such an access counts as unresolved in mining (`MiningReport.jedi_errors`) and as
`unknown` in `check_accesses`, so that one bad access never ends a run.

jedi's project: when the repository root is itself a package (has `__init__.py`, e.g. an installed
`site-packages/rich`), its parent goes on jedi's path instead of the root. With the root on the
path, rich's own `abc.py`, `json.py`, `logging.py`... would shadow the standard library modules of
the same name, and `from abc import ABC` would resolve into rich.
"""

from __future__ import annotations

import ast
import keyword
import random
import re
import time
import tokenize
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import jedi

MAX_FILE_BYTES = 200_000
FILE_BUDGET_S = 10.0
SKIPPED_DIRS = frozenset({"tests", "test", "testing", "__pycache__", "site-packages", "node_modules", "build", "dist"})

# None/True/False are keywords, yet `None.__class__` is an access; the other hard keywords before
# a dot mean a relative import (`from .`) or a syntax error.
_VALUE_KEYWORDS = frozenset({"None", "True", "False"})
_CLOSERS = frozenset({")", "]", "}"})
_QUOTES = frozenset({"'", '"'})
# Python 3.12+ splits f-strings into tokens; their inner code is still text of a string for us.
_FSTRING_START = getattr(tokenize, "FSTRING_START", None)
_FSTRING_END = getattr(tokenize, "FSTRING_END", None)


@dataclass(frozen=True)
class MgdTask:
    id: str  # "<repo dir name>/<path>:<1-based line>:<1-based column of the member>"
    path: str  # repo-relative, "/"-separated
    prompt: str  # the file's text up to and including the dot
    member: str  # the member written right after the dot
    rest_of_line: str  # from the member to the end of its line, without the newline
    defined_in: str  # repo-relative path of the member's definition; never == path


@dataclass(frozen=True)
class MiningReport:
    tasks: tuple[MgdTask, ...]
    files_total: int  # .py files found under the walked directories
    files_analysed: int  # files whose accesses were looked at to the end (or to per_file)
    skipped_large: int
    skipped_unparsable: int
    skipped_slow: int
    jedi_errors: int  # accesses on which jedi raised (it has internal errors on some valid code)


@dataclass(frozen=True)
class AccessCheck:
    existing: int  # the analysis lists the member at that dot
    missing: int  # the analysis lists members for the expression, but not this one
    unknown: int  # the analysis lists nothing at that dot (type unknown)


class _Token(NamedTuple):
    type: int
    string: str
    offset: int  # character offset of the token's start in the original text


class _FileTasks(NamedTuple):
    tasks: list[MgdTask]
    jedi_errors: int


class _TooSlow(Exception):
    """A file's analysis ran over its time budget."""


# ---------------------------------------------------------------------------------------------
# Tokens: tolerant of incomplete code


def _line_starts(text: str) -> list[int]:
    # Split on "\n" only: tokenize, ast and jedi (parso) all count lines this way, while
    # str.splitlines would also break at form feeds and other separators.
    starts = [0]
    starts.extend(match.end() for match in re.finditer("\n", text))
    return starts


def _tokens(code: str) -> Iterator[_Token]:
    """Significant tokens of `code` (no comments, NL, INDENT/DEDENT), stopping quietly where the
    code is cut off (open bracket or string at the end)."""
    lines = re.split(r"(?<=\n)", code)
    # Indentation is removed before tokenizing (and added back to the offsets) so that a
    # generated line with inconsistent indentation cannot stop the tokenizer.
    shifts = [len(line) - len(line.lstrip(" \t\f")) for line in lines]
    dedented = iter([line[shift:] for line, shift in zip(lines, shifts)])
    starts = _line_starts(code)
    skip_row = 0
    try:
        for tok in tokenize.generate_tokens(lambda: next(dedented, "")):
            row, col = tok.start
            if row == skip_row or tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
                continue
            if tok.type == tokenize.ERRORTOKEN and tok.string in _QUOTES:
                skip_row = row  # an unterminated string: the rest of its line is string text
                continue
            if row - 1 < len(starts):
                yield _Token(tok.type, tok.string, starts[row - 1] + shifts[row - 1] + col)
    except tokenize.TokenError:
        pass  # EOF inside a bracket or a triple-quoted string: everything before it was yielded


def _code_tokens(code: str) -> Iterator[_Token]:
    """`_tokens` without the inner tokens of (3.12+) f-strings."""
    depth = 0
    for tok in _tokens(code):
        if tok.type == _FSTRING_START:
            depth += 1
        elif tok.type == _FSTRING_END:
            depth -= 1
        elif depth == 0:
            yield tok


def _is_identifier(tok: _Token) -> bool:
    # Soft keywords (match, case, type, _) are identifiers; hard keywords are not.
    return tok.type == tokenize.NAME and not keyword.iskeyword(tok.string)


def identifiers(text: str) -> list[str]:
    """Python identifiers of `text` in order, outside strings and comments."""
    return [tok.string for tok in _code_tokens(text) if _is_identifier(tok)]


def _ends_value(tok: _Token) -> bool:
    """Whether a dot after `tok` is an attribute access (and not, e.g., `from .mod`)."""
    if tok.type in (tokenize.NUMBER, tokenize.STRING):
        return True
    if tok.type == tokenize.NAME:
        return not keyword.iskeyword(tok.string) or tok.string in _VALUE_KEYWORDS
    return tok.type == tokenize.OP and tok.string in _CLOSERS


def member_accesses(code: str, start: int) -> list[tuple[int, str]]:
    """(offset just after the dot, member) for each `expr.name` whose dot is at or after `start`;
    dots in strings, comments, numbers and import statements are not accesses."""
    accesses = []
    prev: _Token | None = None
    dot: _Token | None = None
    in_import = False
    for tok in _code_tokens(code):
        at_line_start = prev is None or prev.type == tokenize.NEWLINE
        if at_line_start:
            in_import = tok.type == tokenize.NAME and tok.string in ("import", "from")
        if dot is not None and _is_identifier(tok) and dot.offset >= start:
            accesses.append((dot.offset + 1, tok.string))
        is_access_dot = tok.type == tokenize.OP and tok.string == "." and prev is not None and _ends_value(prev)
        dot = tok if is_access_dot and not in_import else None
        prev = tok
    return accesses


# ---------------------------------------------------------------------------------------------
# jedi


def _project(root: Path) -> jedi.Project:
    # See the module docstring: a package root on the path shadows the standard library.
    if (root / "__init__.py").is_file():
        return jedi.Project(path=root, smart_sys_path=False, added_sys_path=[str(root.parent)])
    return jedi.Project(path=root)


def _position(code: str, offset: int) -> tuple[int, int]:
    """jedi's (1-based line, 0-based column in characters) of a character offset."""
    line = code.count("\n", 0, offset) + 1
    return line, offset - (code.rfind("\n", 0, offset) + 1)


def _repo_file(root: Path, module_path: Path | None) -> str | None:
    """The repo-relative path of a `.py` file inside `root`, else None."""
    if module_path is None or module_path.suffix != ".py":
        return None
    try:
        return module_path.resolve().relative_to(root).as_posix()
    except ValueError:
        return None


def _definition_file(script: jedi.Script, line: int, column: int, member: str, root: Path, own: str) -> str | None:
    """The repo file defining the member at (line, column), if it is another file than `own`."""
    names = script.goto(line, column, follow_imports=True)
    if not names:
        # infer answers with the member's type for plain attributes; only a definition that
        # carries the member's own name is where the member is defined.
        names = [name for name in script.infer(line, column) if name.name == member]
    if any(name.type == "module" for name in names):
        return None
    files = [_repo_file(root, name.module_path) for name in names]
    if own in files:
        return None  # (also) defined here: the model could copy it from the prompt
    return next((file for file in files if file is not None), None)


def _completions(prefix: str, path: Path, project: jedi.Project) -> set[str]:
    """Names jedi completes at the end of `prefix`; none when jedi fails inside (it has internal
    errors on some valid code), which reads as "knows nothing" like an uninferable expression."""
    script = jedi.Script(prefix, path=path, project=project)
    try:
        return {completion.name for completion in script.complete(*_position(prefix, len(prefix)))}
    except Exception:
        return set()


def check_accesses(repo: str | Path, path: str, code: str, start: int) -> AccessCheck:
    """Classify each member access of `code` at or after `start` by what jedi completes at its dot,
    given only the code before it. `path` (repo-relative) tells jedi where the code lives."""
    root = Path(repo).resolve()
    project = _project(root)
    counts = {"existing": 0, "missing": 0, "unknown": 0}
    for after_dot, member in member_accesses(code, start):
        names = _completions(code[:after_dot], root / path, project)
        kind = "unknown" if not names else "existing" if member in names else "missing"
        counts[kind] += 1
    return AccessCheck(**counts)


# ---------------------------------------------------------------------------------------------
# Mining


class _Candidate(NamedTuple):
    dot: int  # character offset of the dot
    member: str


def python_files(root: Path) -> list[Path]:
    """The `.py` files under `root` in sorted order, outside skipped and hidden directories."""
    files = []
    for file in sorted(root.rglob("*.py")):
        parts = file.relative_to(root).parts[:-1]
        if not any(part in SKIPPED_DIRS or part.startswith(".") for part in parts):
            files.append(file)
    return files


def _char_offset(text: str, starts: list[int], lineno: int, byte_col: int) -> int:
    # ast columns count UTF-8 bytes; everything else here counts characters.
    start = starts[lineno - 1]
    prefix = text[start : start + byte_col]  # a byte column is never fewer characters
    return start + len(prefix.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))


def _candidates(text: str, tree: ast.Module) -> list[_Candidate]:
    """Accesses that pass the syntactic rules of the module docstring, in source order."""
    starts = _line_starts(text)
    accesses = dict(member_accesses(text, 0))  # offset after dot -> member
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.ctx, ast.Load) or node.end_lineno is None:
            continue
        end = _char_offset(text, starts, node.end_lineno, node.end_col_offset or 0)
        dot = end - len(node.attr) - 1
        line_start = starts[node.end_lineno - 1]
        if accesses.get(dot + 1) == node.attr and text[line_start:dot].strip():
            found.append(_Candidate(dot, node.attr))
    return sorted(found)


def _make_task(root: Path, rel: str, text: str, candidate: _Candidate, defined_in: str) -> MgdTask:
    line, column = _position(text, candidate.dot + 1)
    line_end = text.find("\n", candidate.dot)
    return MgdTask(
        id=f"{root.name}/{rel}:{line}:{column + 1}",
        path=rel,
        prompt=text[: candidate.dot + 1],
        member=candidate.member,
        rest_of_line=text[candidate.dot + 1 : line_end if line_end >= 0 else len(text)],
        defined_in=defined_in,
    )


def _mine_file(
    root: Path,
    project: jedi.Project,
    file: Path,
    text: str,
    tree: ast.Module,
    rng: random.Random,
    per_file: int,
    budget_s: float,
) -> _FileTasks:
    """Up to `per_file` tasks of one file; raises _TooSlow past `budget_s` seconds."""
    rel = file.relative_to(root).as_posix()
    candidates = _candidates(text, tree)
    rng.shuffle(candidates)
    deadline = time.monotonic() + budget_s
    script = jedi.Script(text, path=file, project=project)  # one script: inference is shared
    chosen = []
    errors = 0
    for candidate in candidates:
        if len(chosen) == per_file:
            break
        try:
            line, column = _position(text, candidate.dot + 1)
            defined_in = _definition_file(script, line, column, candidate.member, root, rel)
        except Exception:  # a jedi bug on one access (seen: AttributeError in parso's own code)
            defined_in, errors = None, errors + 1
        if time.monotonic() > deadline:
            raise _TooSlow(rel)
        if defined_in is not None:
            chosen.append((candidate, defined_in))
    tasks = [_make_task(root, rel, text, candidate, defined_in) for candidate, defined_in in sorted(chosen)]
    return _FileTasks(tasks, errors)


def _parse(file: Path) -> tuple[str, ast.Module] | None:
    try:
        text = file.read_text(encoding="utf-8")
        return text, ast.parse(text, filename=str(file))
    except (UnicodeDecodeError, SyntaxError, ValueError):  # ValueError: NUL bytes
        return None


def mine_repo(
    repo: str | Path,
    limit: int | None = None,
    seed: int = 0,
    per_file: int = 3,
    progress: Callable[[int, int], None] | None = None,
    file_budget_s: float = FILE_BUDGET_S,
) -> MiningReport:
    """Tasks of `repo` (see the module docstring for the rules) and counts of skipped files."""
    if per_file < 1:
        raise ValueError(f"per_file must be at least 1, got {per_file}")
    root = Path(repo).resolve()
    project = _project(root)
    files = python_files(root)
    random.Random(seed).shuffle(files)
    tasks: list[MgdTask] = []
    skipped = {"large": 0, "unparsable": 0, "slow": 0}
    analysed = errors = 0
    for done, file in enumerate(files, start=1):
        if limit is not None and len(tasks) >= limit:
            break
        rel = file.relative_to(root).as_posix()
        small = file.stat().st_size <= MAX_FILE_BYTES
        parsed = _parse(file) if small else None
        if parsed is None:
            skipped["unparsable" if small else "large"] += 1
        else:
            try:
                rng = random.Random(f"{seed}/{rel}")
                found = _mine_file(root, project, file, *parsed, rng, per_file, file_budget_s)
                tasks += found.tasks
                errors += found.jedi_errors
                analysed += 1
            except _TooSlow:
                skipped["slow"] += 1
        if progress is not None:
            progress(done, len(files))
    tasks = tasks[:limit] if limit is not None else tasks
    return MiningReport(tuple(tasks), len(files), analysed, skipped["large"], skipped["unparsable"], skipped["slow"], errors)


def mine_tasks(
    repo: str | Path,
    limit: int | None = None,
    seed: int = 0,
    per_file: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> list[MgdTask]:
    """Tasks of `repo`; `progress(files done, files total)` is called after each file."""
    return list(mine_repo(repo, limit, seed, per_file, progress).tasks)
