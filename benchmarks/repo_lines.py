"""Next-line tasks that need another file of the repository (or only their own), built from any Python source tree.

The setting of repository-level completion benchmarks (RepoBench's next-line task, CrossCodeEval):
the model writes a line whose code uses a name defined in *another* file of the same tree, so the
current file alone does not tell it. A line qualifies when

- its file is a `.py` file no larger than `mgd_tasks.MAX_FILE_BYTES` that `ast` parses, outside
  the directories `mgd_tasks.python_files` skips (tests, build output, hidden) and vendored code
  (`VENDORED_DIRS`: someone else's code, copied in);
- the line uses a name the file imports from a module of the tree (`from .mod import name`,
  `from pkg.mod import name`, `from . import mod` or `import pkg.mod as m` then `mod.name`), and
  `ast` resolves that name, following re-exports (`from .x import name` and `from .x import *` in
  the imported module, as a package's `__init__.py` does), to a `def`, `class` or assignment at the
  top level of another file of the tree. A name the file also binds itself (an assignment, a
  parameter, a local `def`) is dropped: a use of it may be the file's own. No name is matched by
  its spelling alone;
- it is not part of an import statement, of a multi-line string, or of a backslash-continued
  line; its code (the comment after it is not part of the answer) has at least `MIN_CHARS`
  characters (a line of closing brackets alone never qualifies: it uses no name);
- its code stands on no other line of its file: the prompt holds the text before the cursor and,
  in fill-in-the-middle, after it, so a repeated line could be copied rather than known.

Those are the "cross-file" lines (`build(..., lines="cross-file")`, the default). The "in-file"
lines are the control: lines that need only their own file, where repository context should not
hurt. Such a line uses (reads, as `name` or `x.name`) a name its file defines: at the top level (a
`def`, `class` or assignment, as above) or in the body of one of its classes (a method, a class
attribute); dunder names (`__init__`) are not counted. None of its names (read or written,
attributes included) may be a name the file imports from a module of the tree, or one a
`from <tree module> import *` may bring. Names are matched by their spelling here: a parameter
that shadows a top-level name counts as a use of it. The other rules are the same.

The task is the file with that line's code removed (its indentation kept), the cursor after the
indentation, and the line's code as the answer. Choice is deterministic for a seed: each file's
lines are shuffled with a generator seeded by (seed, file), the files with `random.Random(seed)`,
and tasks are taken round-robin over the files (each file's first line, then each file's second,
...) up to the limit, so a limit spreads over many files; a line whose code another chosen task
already has is passed over. Tasks come out in file and line order.
"""

from __future__ import annotations

import ast
import random
import tokenize
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import NamedTuple

from assistant.embedded import cache_root

from . import scope_sources
from .mgd_sources import MgdSource, describe
from .mgd_tasks import MAX_FILE_BYTES, python_files

LINE_KINDS = ("cross-file", "in-file")  # which lines are tasks (module docstring)
MIN_CHARS = 6  # shorter lines (`pass`, `x = 1`) say little about knowing the repository
VENDORED_DIRS = frozenset({"_vendor", "vendor", "vendored", "_vendored", "third_party", "extern", "_extern"})


@dataclass(frozen=True)
class RepoLineTask:
    id: str  # "<tree dir name>/<path>:<1-based line>"
    path: str  # tree-relative, "/"-separated
    text: str  # the file with the line's code removed
    cursor: int  # character offset in `text`: after the line's indentation
    expected: str  # the line's code, without its comment and trailing blanks
    symbol: str  # the first name of the line defined in another file (in-file: in its own), as the line writes it
    defined_in: str  # tree-relative path of its definition; cross-file: never == path, in-file: always

    @property
    def line(self) -> int:
        return self.text.count("\n", 0, self.cursor) + 1


@dataclass(frozen=True)
class RepoLines:
    tasks: tuple[RepoLineTask, ...]
    files_total: int  # .py files walked
    files_with_lines: int  # files with at least one qualifying line
    lines: int  # qualifying lines, before the choice
    skipped_large: int
    skipped_unparsable: int


# ---------------------------------------------------------------------------------------------
# The tree's modules: what each defines and re-exports


@dataclass
class _Module:
    path: str  # tree-relative
    is_package: bool  # an __init__.py
    defined: set[str] = field(default_factory=set)  # top-level def, class and assignment names
    imported: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (module, its name there)
    starred: list[str] = field(default_factory=list)  # modules of `from m import *`


def module_name(root: Path, file: Path) -> str:
    """The dotted name `file` is imported by: from the outermost package folder that contains it,
    `root` included (so an installed package's root, `site-packages/jinja2`, gives `jinja2.x`)."""
    parts = [] if file.name == "__init__.py" else [file.stem]
    folder = file.parent
    while (folder / "__init__.py").is_file() and folder.is_relative_to(root):
        parts.insert(0, folder.name)
        if folder == root:
            break
        folder = folder.parent
    return ".".join(parts)


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The module a `from` import names, relative imports resolved against the importer's package."""
    if level == 0:
        return module or ""
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[: max(len(package) - (level - 1), 0)]  # each level past the first goes one package up
    return ".".join([*base, module] if module else base)


def _top_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The module's statements, also those under a top-level `if`, `try` or `with` (TYPE_CHECKING
    imports, fallbacks), which run at import time as much as the others."""
    for node in body:
        yield node
        if isinstance(node, ast.If | ast.With):
            yield from _top_level(node.body)
            yield from _top_level(getattr(node, "orelse", []))
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _top_level(block)


def _targets(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _targets(element)


def _module(name: str, path: str, tree: ast.Module, is_package: bool) -> _Module:
    module = _Module(path, is_package)
    for node in _top_level(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            module.defined.add(node.name)
        elif isinstance(node, ast.Assign):
            module.defined.update(name for target in node.targets for name in _targets(target))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            module.defined.update(_targets(node.target))
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(name, is_package, node.level, node.module)
            for alias in node.names:
                if alias.name == "*":
                    module.starred.append(source)
                else:
                    module.imported[alias.asname or alias.name] = (source, alias.name)
    return module


@dataclass(frozen=True)
class _Index:
    modules: dict[str, _Module]  # dotted name -> module

    def definition(self, module: str, name: str, seen: frozenset[str] = frozenset()) -> str | None:
        """The tree-relative file whose top level defines `name` as `module` exports it, following
        re-exports; None for a module, a name from outside the tree, or an import cycle."""
        found = self.modules.get(module)
        if found is None or module in seen or f"{module}.{name}" in self.modules:
            return None
        if name in found.defined:
            return found.path
        seen = seen | {module}
        if name in found.imported:
            return self.definition(*found.imported[name], seen)
        return next((path for source in found.starred if (path := self.definition(source, name, seen))), None)


# ---------------------------------------------------------------------------------------------
# One file: its imported names and the lines that use them


class _Binding(NamedTuple):
    module: str  # the module the name is, or is imported from
    name: str | None  # the name in that module; None when the binding is the module itself


def _bindings(tree: ast.Module, index: _Index, importer: str, is_package: bool) -> dict[str, _Binding]:
    """Names the file's import statements (anywhere in it) bind to modules of the tree or to names
    in them; a name bound twice to different things, or bound by the file itself too, is dropped."""
    found = _imports(tree, index, importer, is_package)
    own = _own_names(tree)
    return {name: binding for name, binding in found.items() if binding is not None and name not in own}


def _imports(tree: ast.Module, index: _Index, importer: str, is_package: bool) -> dict[str, _Binding | None]:
    """Every name the file's import statements bind to a module of the tree or to a name in one;
    None for a name bound twice to different things."""
    found: dict[str, _Binding | None] = {}

    def bind(local: str, binding: _Binding) -> None:
        found[local] = binding if found.get(local, binding) == binding else None

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            source = _absolute(importer, is_package, node.level, node.module)
            for alias in node.names:
                whole = f"{source}.{alias.name}"
                if whole in index.modules:
                    bind(alias.asname or alias.name, _Binding(whole, None))
                elif alias.name != "*" and source in index.modules:
                    bind(alias.asname or alias.name, _Binding(source, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.name if alias.asname else alias.name.split(".")[0]
                if bound in index.modules:
                    bind(alias.asname or bound, _Binding(bound, None))
    return found


def _own_names(tree: ast.Module) -> set[str]:
    """Every name the file binds other than by importing it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
    return names


class _Use(NamedTuple):
    line: int  # 1-based
    column: int  # of the name, for "the first on its line"
    symbol: str
    defined_in: str


def _uses(tree: ast.Module, index: _Index, bindings: dict[str, _Binding]) -> Iterator[_Use]:
    """Where the file reads a name (`name`, or `module.name` through submodules) that the index
    resolves to a definition in the tree."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            binding = bindings.get(node.id)
            if binding is not None and binding.name is not None:
                if (path := index.definition(binding.module, binding.name)) is not None:
                    yield _Use(node.lineno, node.col_offset, node.id, path)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.end_lineno is not None:
            binding = bindings.get(node.value.id)
            if binding is not None and binding.name is None:
                yield from _module_use(index, binding.module, node)


def _module_use(index: _Index, module: str, node: ast.Attribute) -> Iterator[_Use]:
    """`m.name` (`node`) with `m` the module `module`; `m.sub.name` is found from the `m.sub` node."""
    if (path := index.definition(module, node.attr)) is not None and node.end_lineno is not None:
        yield _Use(node.end_lineno, (node.end_col_offset or 0) - len(node.attr), node.attr, path)


def _submodule_uses(tree: ast.Module, index: _Index, bindings: dict[str, _Binding]) -> Iterator[_Use]:
    """`pkg.sub.name` where `import pkg.sub` bound `pkg`: chains of attributes through submodules."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Attribute):
            continue
        chain, base = [node.value.attr], node.value.value
        while isinstance(base, ast.Attribute):
            chain.insert(0, base.attr)
            base = base.value
        binding = bindings.get(base.id) if isinstance(base, ast.Name) else None
        if binding is not None and binding.name is None:
            module = ".".join([binding.module, *chain])
            if module in index.modules:
                yield from _module_use(index, module, node)


def _class_names(tree: ast.Module) -> set[str]:
    """Names the bodies of the file's classes (any class, nested too) define: methods, nested
    classes, class attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    names.add(item.name)
                elif isinstance(item, ast.Assign):
                    names.update(name for target in item.targets for name in _targets(target))
                elif isinstance(item, ast.AnnAssign):
                    names.update(_targets(item.target))
    return names


def _star_names(tree: ast.Module, index: _Index, importer: str, is_package: bool) -> set[str]:
    """Names a `from <tree module> import *` of the file may bring: what that module defines or imports."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            module = index.modules.get(_absolute(importer, is_package, node.level, node.module))
            if module is not None:
                names.update(module.defined, module.imported)
    return names


def _in_file_uses(p: _Parsed, index: _Index) -> Iterator[_Use]:
    """Where the file reads a name it defines itself (top level or a class body), on lines none of
    whose names is one the file imports from the tree."""
    is_package = p.file.name == "__init__.py"
    defined = _module(p.name, p.rel, p.tree, is_package).defined | _class_names(p.tree)
    own = {name for name in defined if not (name.startswith("__") and name.endswith("__"))}
    imported = set(_imports(p.tree, index, p.name, is_package)) | _star_names(p.tree, index, p.name, is_package)
    uses: list[_Use] = []
    tainted: set[int] = set()  # lines with an imported name
    for node in ast.walk(p.tree):
        if isinstance(node, ast.Name):
            if node.id in imported:
                tainted.add(node.lineno)
            elif isinstance(node.ctx, ast.Load) and node.id in own:
                uses.append(_Use(node.lineno, node.col_offset, node.id, p.rel))
        elif isinstance(node, ast.Attribute) and node.end_lineno is not None:
            if node.attr in imported:
                tainted.add(node.end_lineno)
            elif isinstance(node.ctx, ast.Load) and node.attr in own:
                uses.append(_Use(node.end_lineno, (node.end_col_offset or 0) - len(node.attr), node.attr, p.rel))
    return (use for use in uses if use.line not in tainted)


# ---------------------------------------------------------------------------------------------
# Lines


class _Layout(NamedTuple):
    starts: list[int]  # character offset of each line (index 0: line 1)
    codes: list[str]  # each line's code: no indentation, trailing comment or trailing blanks
    unusable: set[int]  # 1-based lines whose code cannot be removed alone (see `_layout`)


def _layout(text: str, tree: ast.Module) -> _Layout:
    """One tokenizer pass over the file. Unusable: lines of import statements, lines a multi-line
    token (a string) touches and lines continued by a backslash; removing their code alone would
    break the rest of the file or leave half a statement."""
    lines = text.split("\n")  # as ast and tokenize count lines (not str.splitlines)
    comments: dict[int, int] = {}
    unusable = {number for number, line in enumerate(lines, 1) if line.rstrip().endswith("\\")}
    try:
        for token in tokenize.generate_tokens(StringIO(text).readline):
            if token.type == tokenize.COMMENT:
                comments[token.start[0]] = token.start[1]
            elif token.start[0] != token.end[0]:
                unusable.update(range(token.start[0], token.end[0] + 1))
    except (tokenize.TokenError, SyntaxError):  # code ast parses and tokenize does not: none of it
        unusable.update(range(1, len(lines) + 1))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and node.end_lineno is not None:
            unusable.update(range(node.lineno, node.end_lineno + 1))
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    codes = [line[: comments.get(number)].strip() for number, line in enumerate(lines, 1)]
    return _Layout(starts, codes, unusable)


def line_code(line: str) -> str:
    """One line's code without indentation, trailing comment and trailing blanks, as `_layout` reads
    a file's lines; for a line alone (a completion's first line), which may open a bracket or a
    string it does not close."""
    code = line.strip()
    try:
        comment = next((t.start[1] for t in tokenize.generate_tokens(StringIO(code).readline) if t.type == tokenize.COMMENT), None)
    except (tokenize.TokenError, SyntaxError):
        comment = None  # a bracket or string left open, and no comment before it: all of it is code
    return code[:comment].rstrip()


class _Line(NamedTuple):
    number: int  # 1-based
    use: _Use


def _file_lines(layout: _Layout, uses: list[_Use]) -> list[_Line]:
    """The lines of one file that qualify (module docstring), each with its first name of `uses`."""
    counts = Counter(layout.codes)
    first: dict[int, _Use] = {}
    for use in sorted(uses, key=lambda u: (u.line, u.column)):
        first.setdefault(use.line, use)
    out = []
    for number, use in sorted(first.items()):
        code = layout.codes[number - 1]
        if number in layout.unusable or counts[code] > 1 or len(code) < MIN_CHARS:
            continue
        out.append(_Line(number, use))
    return out


def _task(root: Path, rel: str, text: str, layout: _Layout, line: _Line) -> RepoLineTask:
    start = layout.starts[line.number - 1]
    end = text.find("\n", start)
    end = len(text) if end < 0 else end
    cursor = start + len(text[start:end]) - len(text[start:end].lstrip())
    return RepoLineTask(
        id=f"{root.name}/{rel}:{line.number}",
        path=rel,
        text=text[:cursor] + text[end:],
        cursor=cursor,
        expected=layout.codes[line.number - 1],
        symbol=line.use.symbol,
        defined_in=line.use.defined_in,
    )


# ---------------------------------------------------------------------------------------------
# A tree


class _Parsed(NamedTuple):
    file: Path
    rel: str
    name: str  # dotted module name
    text: str
    tree: ast.Module


def _read(root: Path, file: Path) -> _Parsed | None | bool:
    """The parsed file; False when it is too large, None when it does not parse."""
    if file.stat().st_size > MAX_FILE_BYTES:
        return False
    try:
        text = file.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(file))
    except (UnicodeDecodeError, SyntaxError, ValueError):  # ValueError: NUL bytes
        return None
    return _Parsed(file, file.relative_to(root).as_posix(), module_name(root, file), text, tree)


def _index(parsed: list[_Parsed]) -> _Index:
    # Two files of one dotted name (loose scripts in two folders) are left out of the index: which
    # one an import means is not known, so neither is resolved.
    counts = Counter(p.name for p in parsed)
    unique = [p for p in parsed if counts[p.name] == 1]
    return _Index({p.name: _module(p.name, p.rel, p.tree, p.file.name == "__init__.py") for p in unique})


def source_files(root: Path) -> list[Path]:
    """The `.py` files tasks come from: `mgd_tasks.python_files` without vendored directories."""
    return [f for f in python_files(root) if not VENDORED_DIRS.intersection(f.relative_to(root).parts[:-1])]


def build(root: str | Path, limit: int | None = None, seed: int = 0, lines: str = "cross-file") -> RepoLines:
    """Up to `limit` tasks of the tree at `root`: `lines` (one of LINE_KINDS) says which (see the
    module docstring for the rules)."""
    if lines not in LINE_KINDS:
        raise ValueError(f"lines must be one of {', '.join(LINE_KINDS)}, got {lines!r}")
    root = Path(root).resolve()
    files = source_files(root)
    read = [_read(root, file) for file in files]
    parsed = [p for p in read if isinstance(p, _Parsed)]
    index = _index(parsed)
    per_file = []
    for p in parsed:
        if lines == "in-file":
            uses = list(_in_file_uses(p, index))
        else:
            bindings = _bindings(p.tree, index, p.name, p.file.name == "__init__.py")
            uses = [u for u in (*_uses(p.tree, index, bindings), *_submodule_uses(p.tree, index, bindings)) if u.defined_in != p.rel]
        layout = _layout(p.text, p.tree)
        chosen = _file_lines(layout, uses)
        random.Random(f"{seed}/{p.rel}").shuffle(chosen)
        per_file.append([_task(root, p.rel, p.text, layout, line) for line in chosen])
    random.Random(seed).shuffle(per_file)
    tasks = _round_robin(per_file, limit)
    return RepoLines(
        tasks=tuple(sorted(tasks, key=lambda t: (t.path, t.cursor))),
        files_total=len(files),
        files_with_lines=sum(bool(tasks) for tasks in per_file),
        lines=sum(len(tasks) for tasks in per_file),
        skipped_large=sum(p is False for p in read),
        skipped_unparsable=sum(p is None for p in read),
    )


def _round_robin(per_file: list[list[RepoLineTask]], limit: int | None) -> list[RepoLineTask]:
    """Each file's first task, then each file's second, ... until `limit`; one task per answer."""
    chosen: list[RepoLineTask] = []
    answers: set[str] = set()
    for rank in range(max((len(tasks) for tasks in per_file), default=0)):
        for tasks in per_file:
            if limit is not None and len(chosen) >= limit:
                return chosen
            if rank < len(tasks) and tasks[rank].expected not in answers:
                chosen.append(tasks[rank])
                answers.add(tasks[rank].expected)
    return chosen


# ---------------------------------------------------------------------------------------------
# Pinned trees: third-party pure-Python packages the project did not write, from their sdists


def _pinned(name: str, package: str, version: str, subdir: str) -> MgdSource:
    return MgdSource(name, "python", scope_sources.Source("python", "pip", package, version, f"{subdir}/**/*.py"), subdir)


SOURCES = {
    source.name: source
    for source in (
        # The compiler, the runtime and the environment use nodes, exceptions and utils of their siblings.
        _pinned("jinja2", "jinja2", "3.1.6", "jinja2-3.1.6/src/jinja2"),
        # Datastructures, http and urls helpers used across routing, wrappers, sansio and debug.
        _pinned("werkzeug", "werkzeug", "3.1.9", "werkzeug-3.1.9/src/werkzeug"),
        # The client, models and transports import each other's types through relative imports.
        _pinned("httpx", "httpx", "0.28.1", "httpx-0.28.1/httpx"),
    )
}


def fetch(name: str, cache: Path | None = None) -> Path:
    """The root of pinned tree `name` (a key of SOURCES), fetched with pip into the cache first if
    it is not there. Raises KeyError for an unknown name and scope_sources.FetchError when pip fails."""
    source = SOURCES[name]
    return scope_sources.fetch(source.package, cache or cache_root() / "repo-sources").root / source.subdir


@dataclass(frozen=True)
class RepoTree:
    name: str  # a pinned tree's name, or the directory's
    description: str  # the package and version it is
    root: Path

    def to_json(self) -> dict:
        return {"name": self.name, "description": self.description, "root": str(self.root)}


def tree(source: str) -> RepoTree:
    """A directory as it is, or the pinned tree of that name (fetched first if not in the cache).
    Raises ValueError for anything else and scope_sources.FetchError when pip fails."""
    if Path(source).is_dir():
        root = Path(source).resolve()
        return RepoTree(root.name, describe(root), root)
    if source not in SOURCES:
        raise ValueError(f"{source} is neither a directory nor a pinned tree ({', '.join(SOURCES)})")
    return RepoTree(source, SOURCES[source].description, fetch(source))
