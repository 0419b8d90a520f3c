"""Pinned source trees for `guidecode bench mgd` in languages other than Python: packages of npm,
PyPI and Debian that ship their sources, fetched with their ordinary clients into the guidecode cache
(`<cache>/mgd-sources`, unpacked once; benchmarks/scope_sources.py does the fetching).

    guidecode bench mgd --source rxjs      # or in Python: benchmarks.mgd_sources.fetch("rxjs")

A tree is what a language server reads as one workspace. Where the server needs to be told how the
tree builds, that is written into the fetched copy only (never into a user's tree): clangd gets a
`compile_flags.txt` with the tree's include folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from assistant.embedded import cache_root

from . import scope_sources


@dataclass(frozen=True)
class MgdSource:
    name: str  # what --source takes
    language: str  # the LSP language id of the files mined
    package: scope_sources.Source  # client, package, version
    subdir: str  # the tree's root inside the unpacked package
    compile_flags: tuple[str, ...] = ()  # clangd's flags, relative to the tree's root

    @property
    def description(self) -> str:
        return f"{self.package.package} {self.package.version} ({self.package.client})"


SOURCES = {
    source.name: source
    for source in (
        # Observable, Subscriber, Subscription, Scheduler, Action: classes whose members every
        # operator file uses; ~250 .ts files.
        MgdSource("rxjs", "typescript", scope_sources.Source("typescript", "npm", "rxjs", "7.8.1", "package/src/**/*.ts"), "package/src"),
        # The brotli C library bundled in the Python binding's sdist: encoder and decoder state
        # structs declared in headers, used across c/enc, c/dec and c/common.
        MgdSource(
            "brotli",
            "c",
            scope_sources.Source("c", "pip", "Brotli", "1.1.0", "Brotli-1.1.0/c/**/*.c"),
            "Brotli-1.1.0/c",
            compile_flags=("-xc", "-std=c99", "-Iinclude"),
        ),
        # FlagSet and Flag (flag.go) used by every value type's file; the same Debian package
        # `bench scope` completes in.
        MgdSource(
            "pflag",
            "go",
            scope_sources.Source(
                "go", "apt", "golang-github-spf13-pflag-dev", "1.0.6~git20210604-d5e0c0615ace-1", "usr/share/gocode/src/github.com/spf13/pflag/*.go"
            ),
            "usr/share/gocode/src/github.com/spf13/pflag",
        ),
    )
}


def fetch(name: str, cache: Path | None = None) -> Path:
    """The root of source tree `name` (a key of SOURCES), fetched first if it is not in the cache.
    Raises KeyError for an unknown name and scope_sources.FetchError when its client fails."""
    source = SOURCES[name]
    fetched = scope_sources.fetch(source.package, cache or cache_root() / "mgd-sources")
    root = fetched.root / source.subdir
    if source.compile_flags:
        flags = root / "compile_flags.txt"
        text = "\n".join(source.compile_flags) + "\n"
        if not flags.exists() or flags.read_text() != text:
            flags.write_text(text)
    return root


def source_for(root: Path) -> MgdSource | None:
    """The pinned source whose fetched tree `root` is, if any."""
    return next((s for s in SOURCES.values() if root.resolve().as_posix().endswith(f"/{s.package.key}/{s.subdir}")), None)


def describe(root: Path) -> str:
    """The package and version a source tree is: the pinned source's, else what the tree (or a
    folder up to three above it) says of itself in package.json, PKG-INFO or go.mod, else an
    installed Python distribution of the folder's name, else the folder's name."""
    if (source := source_for(root)) is not None:
        return source.description
    root = root.resolve()
    for folder in (root, *list(root.parents)[:3]):
        if (said := _self_description(folder)) is not None:
            return said
    try:
        return f"{root.name} {metadata.version(root.name)} (installed)"
    except (metadata.PackageNotFoundError, ValueError):
        return root.name


def _self_description(folder: Path) -> str | None:
    try:
        if (package := folder / "package.json").is_file():
            data = json.loads(package.read_text(encoding="utf-8"))
            if isinstance(data, dict) and data.get("name"):
                return f"{data['name']} {data.get('version', '?')}"
        if (info := folder / "PKG-INFO").is_file():
            fields = dict(line.split(": ", 1) for line in info.read_text(encoding="utf-8").splitlines() if ": " in line and not line[0].isspace())
            return f"{fields.get('Name', folder.name)} {fields.get('Version', '?')}"
        if (module := folder / "go.mod").is_file():
            line = next((line for line in module.read_text(encoding="utf-8").splitlines() if line.startswith("module ")), "")
            return line.removeprefix("module ").strip() or None
    except (OSError, ValueError):
        return None
    return None
