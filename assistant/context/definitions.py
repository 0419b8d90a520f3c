"""Definitions of the symbols used near the cursor, as snippets of their outlines (outline.py),
found through the workspace's language server (`textDocument/definition`).

The names asked about are the window's identifiers, nearest the cursor first, then the names the
document imports (Python's `from x import a, b` and `import y`). A definition in the document
itself or outside the workspace (an installed package, a hidden or vendored folder) is left out.

Latency: one deadline per request covers every question; a name the server does not answer for in
time is left out of this request and asked again by the next, up to `patience` times (then it is
taken for one without a definition, so a server always slow for a name does not spend every
request's deadline on it). An answer is kept per (document, name, the document's imports) while
its file's modification time stays the same, and an outline per (file, place, modification
time), so repeated requests ask nothing and parse nothing.
"""

from __future__ import annotations

import builtins
import hashlib
import keyword
import re
import time
from collections import OrderedDict
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from .. import languages
from .outline import outline
from .snippets import CursorWindow, Snippet, display_path

_FROM_IMPORT = re.compile(r"^[ \t]*from[ \t]+\.*[\w.]*[ \t]+import[ \t]*(\([^)]*\)|[^\n;#]*)", re.MULTILINE)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([^\n;#]*)", re.MULTILINE)
_IMPORTED = re.compile(r"([^\W\d][\w.]*)(?:\s+as\s+\w+)?")  # an imported name, without its alias
# Names no definition in the workspace is found for: asking would only spend the deadline.
_PYTHON_WORDS = frozenset([*keyword.kwlist, *keyword.softkwlist, *dir(builtins), "self", "cls"])
_OTHER_WORDS = frozenset(
    "if else for while do switch case break continue return function class struct enum interface type const let var new "
    "this self super import export from package func fn pub use mut impl static public private protected void int char "
    "bool boolean string number true false null nil undefined def end".split()
)
_VENDORED = frozenset(("site-packages", "dist-packages", "node_modules", "venv"))


class Place(Protocol):
    """A definition's place, as the analysis client answers it (assistant/analysis/replies.py)."""

    @property
    def path(self) -> str: ...
    @property
    def line(self) -> int: ...
    @property
    def character(self) -> int: ...


class DefinitionSource(Protocol):
    """What definitions need of an analysis session (assistant/analysis/session.py)."""

    def definition(self, path: str | Path, text: str, offset: int, budget_s: float | None = None) -> tuple[Place, ...] | None: ...


@dataclass(frozen=True)
class Target:
    path: Path  # a file of the workspace other than the document
    line: int
    character: int
    mtime_ns: int  # the file's, when the server named it


@dataclass(frozen=True)
class _Request:
    """One request's questions: to whom, about which document, until when."""

    analysis: DefinitionSource
    workspace: Path
    document: Path
    text: str  # the document as the server is shown it
    imports: bytes  # a digest of its import statements: what its names mean
    deadline: float  # perf_counter


def imported_names(text: str) -> tuple[list[tuple[str, int]], bytes]:
    """The names a Python document imports, each with its offset, and a digest of its import
    statements: `from x import a as b` gives a, `import y.z` gives z (a module: asked last, it
    rarely has an outline)."""
    names, modules, statements = [], [], []
    for match in _FROM_IMPORT.finditer(text):
        statements.append(match.group())
        names += [(m.group(1), match.start(1) + m.start(1)) for m in _IMPORTED.finditer(match.group(1)) if "." not in m.group(1)]
    for match in _IMPORT.finditer(text):
        statements.append(match.group())
        for m in _IMPORTED.finditer(match.group(1)):
            last = m.group(1).rsplit(".", 1)[-1]
            modules.append((last, match.start(1) + m.end(1) - len(last)))
    return names + modules, hashlib.blake2b("\n".join(statements).encode("utf-8", "replace"), digest_size=8).digest()


class Definitions:
    """Definition snippets for a document, with the answers and outlines kept between requests."""

    def __init__(self, budget_s: float = 0.25, max_names: int = 16, max_imports: int = 24, patience: int = 2, cache_entries: int = 4096):
        if budget_s <= 0 or min(max_names, max_imports, patience, cache_entries) < 1:
            raise ValueError(
                f"budget_s, max_names, max_imports, patience and cache_entries must be positive, got {budget_s}, {max_names}, {max_imports}, {patience}, {cache_entries}"
            )
        self.budget_s = budget_s  # for all of one request's questions to the server
        self.max_names = max_names  # of the window's names
        self.max_imports = max_imports  # of the imported names besides: a busy window does not crowd them out
        self.patience = patience  # questions about one name that may go unanswered
        self.cache_entries = cache_entries
        self._targets: OrderedDict[tuple, Target | None] = OrderedDict()
        self._unanswered: OrderedDict[tuple, int] = OrderedDict()
        self._outlines: OrderedDict[tuple, str | None] = OrderedDict()

    def snippets(self, analysis: DefinitionSource, workspace: Path, document: Path, text: str, window: CursorWindow, language: str) -> list[Snippet]:
        """The outlines of the definitions of the names near the cursor and those `text` imports,
        most relevant first. `text` is the document as the server is shown it, `window` in it."""
        imports, digest = imported_names(text) if language == "python" else ([], b"")
        request = _Request(analysis, workspace, document, text, digest, time.perf_counter() + self.budget_s)
        found: dict[tuple[Path, int], Snippet] = {}
        for name, at in self._names(window.names(), imports, language):
            target = self._target(request, name, at)
            body = self._outline(target) if target is not None else None
            if target is not None and body:
                found.setdefault((target.path, target.line), Snippet(display_path(target.path, workspace), body, "definition", target.line))
        return list(found.values())

    def _names(self, near: list[tuple[str, int]], imports: list[tuple[str, int]], language: str) -> list[tuple[str, int]]:
        """The names worth asking about, each once: at most `max_names` of the window's, then at
        most `max_imports` other imported ones."""
        skipped = _PYTHON_WORDS if language == "python" else _OTHER_WORDS
        kept: dict[str, int] = {}
        for names, most in ((near, self.max_names), (imports, self.max_imports)):
            limit = len(kept) + most
            for name, at in names:
                if name not in skipped and name not in kept and len(kept) < limit:
                    kept[name] = at
        return list(kept.items())

    def _target(self, request: _Request, name: str, at: int) -> Target | None:
        """Where `name`, written at offset `at`, is defined (None: nowhere to show)."""
        key = (request.document, name, request.imports)
        if key in self._targets:
            known = self._targets[key]
            if known is None or _mtime_ns(known.path) == known.mtime_ns:
                return known
        left = request.deadline - time.perf_counter()
        places = request.analysis.definition(request.document, request.text, at, budget_s=left) if left > 0 else None
        if places is None and left > 0:
            misses = _remember(self._unanswered, key, self._unanswered.get(key, 0) + 1, self.cache_entries)
            places = () if misses >= self.patience else None
        if places is None:
            return None  # no answer in time: not kept, so the next request asks again
        return _remember(self._targets, key, _usable(places, request.workspace, request.document), self.cache_entries)

    def _outline(self, target: Target) -> str | None:
        key = (target.path, target.line, target.character, target.mtime_ns)
        if key not in self._outlines:
            try:
                source = target.path.read_text(encoding="utf-8", errors="replace")
            except OSError:
                return None
            body = outline(source, target.line, target.character, languages.detect(target.path).name)
            _remember(self._outlines, key, body, self.cache_entries)
        return self._outlines[key]


def _usable(places: Iterable[Place], workspace: Path, document: Path) -> Target | None:
    """The first place in a file of the workspace's own other than the document."""
    for place in places:
        path = Path(place.path).resolve()
        if path == document or not path.is_relative_to(workspace):
            continue
        folders = path.relative_to(workspace).parts[:-1]
        if any(part.startswith(".") or part in _VENDORED for part in folders):
            continue
        if (mtime := _mtime_ns(path)) is not None:
            return Target(path, place.line, place.character, mtime)
    return None


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


def _remember(cache: OrderedDict[Key, Value], key: Key, value: Value, limit: int) -> Value:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)
    return value
