"""The source files `guidecode bench scope` completes in: pinned packages of npm, Debian and PyPI,
fetched with their ordinary clients (npm pack, apt-get download, pip download) and unpacked once
under the guidecode cache. Code the project never saw, in the languages of braces.

A Debian package is fetched by exact version: `apt-get update` must have run on the machine, and a
version that Debian has since replaced is an error that names it (pin the new one here).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.embedded import cache_root
from assistant.errors import GuidecodeError

MAX_FILE_BYTES = 60_000  # larger files are left out: a prompt sees only a window of them anyway


@dataclass(frozen=True)
class Source:
    language: str  # the LSP language id (assistant/languages.py)
    client: str  # "npm", "apt" or "pip"
    package: str
    version: str
    glob: str  # the files completed in, relative to the unpacked package (or to `inner`'s contents)
    inner: str = ""  # a tarball inside the package that holds the sources (e.g. Debian's *-src packages)

    @property
    def key(self) -> str:
        return f"{self.client}-{self.package}-{self.version}"


SOURCES = (
    Source("typescript", "npm", "immer", "10.1.1", "package/src/**/*.ts"),
    Source("typescriptreact", "npm", "react-hot-toast", "2.4.1", "package/src/**/*.tsx"),
    Source("javascript", "npm", "express", "4.21.2", "package/lib/**/*.js"),
    Source("javascript", "npm", "semver", "7.6.3", "package/**/*.js"),
    Source("go", "apt", "golang-github-pkg-errors-dev", "0.9.1-2", "usr/share/gocode/src/github.com/pkg/errors/*.go"),
    Source("go", "apt", "golang-github-spf13-pflag-dev", "1.0.6~git20210604-d5e0c0615ace-1", "usr/share/gocode/src/github.com/spf13/pflag/*.go"),
    Source("rust", "apt", "librust-semver-dev", "1.0.14-1", "usr/share/cargo/registry/semver-1.0.14/src/*.rs"),
    Source("rust", "apt", "librust-smallvec-dev", "1.9.0-1", "usr/share/cargo/registry/smallvec-1.9.0/src/*.rs"),
    Source("java", "apt", "bsh-src", "2.0b4-20", "src/bsh/**/*.java", inner="usr/src/bsh-src/bsh.tar.gz"),
    Source("c", "pip", "pyahocorasick", "2.1.0", "pyahocorasick-2.1.0/src/**/*.c"),
    Source("c", "pip", "markupsafe", "2.1.5", "MarkupSafe-2.1.5/src/markupsafe/*.c"),
    Source("cpp", "apt", "googletest", "1.12.1-0.2", "usr/src/googletest/*/src/*.cc"),
)


class FetchError(GuidecodeError):
    """A package that its client could not fetch; the message names the package and the command."""


# The names --languages takes, and the language ids they stand for.
LANGUAGES = {"ts": "typescript", "tsx": "typescriptreact", "js": "javascript", "go": "go", "rust": "rust", "java": "java", "c": "c", "cpp": "cpp"}


def languages(names: str) -> list[str]:
    """The language ids a comma-separated list of LANGUAGES' names (or ids) stands for; "all" is every one."""
    if names.strip() == "all":
        return sorted(set(LANGUAGES.values()))
    ids = {**LANGUAGES, **{v: v for v in LANGUAGES.values()}}
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in ids]
    if unknown or not chosen:
        raise ValueError(f"unknown language {(unknown[0] if unknown else names)!r}; choose from {', '.join(LANGUAGES)} (or all)")
    return sorted({ids[n] for n in chosen})


@dataclass(frozen=True)
class SourceFile:
    source: Source
    path: Path  # in the cache; its suffix tells the assistant the language
    relative: str  # the path inside the package, as results name it
    text: str


@dataclass(frozen=True)
class Fetched:
    source: Source
    root: Path  # the unpacked package
    sha256: str  # of the archive the client fetched

    def files(self) -> list[SourceFile]:
        """The glob's files, in path order, leaving out large and undecodable ones."""
        base = self.root / "inner" if self.source.inner else self.root
        out = []
        for path in sorted(p for p in base.glob(self.source.glob) if p.is_file() and p.stat().st_size <= MAX_FILE_BYTES):
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            out.append(SourceFile(self.source, path, path.relative_to(base).as_posix(), text))
        return out

    def to_json(self) -> dict:
        return {**asdict(self.source), "sha256": self.sha256}


def fetch(source: Source, cache: Path | None = None) -> Fetched:
    """The package unpacked in the cache, fetched first if it is not there."""
    root = (cache or cache_root() / "scope-sources") / source.key
    record = root / "fetched.json"
    if not record.exists():
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tempfile.TemporaryDirectory() as download:
            archive = _download(source, Path(download))
            _unpack(archive, partial)
            digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        if source.inner:
            _unpack(partial / source.inner, partial / "inner")
        (partial / "fetched.json").write_text(json.dumps({"sha256": digest}))
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)  # only a complete unpacking is ever found under `root`
    return Fetched(source, root, json.loads(record.read_text())["sha256"])


def fetch_all(languages: list[str], on_fetch: Callable[[Source], None] = lambda s: None) -> list[Fetched]:
    out = []
    for source in SOURCES:
        if source.language in languages:
            on_fetch(source)
            out.append(fetch(source))
    return out


def _download(source: Source, into: Path) -> Path:
    commands = {
        "npm": ["npm", "pack", "--silent", "--pack-destination", str(into), f"{source.package}@{source.version}"],
        "apt": ["apt-get", "download", "-q", f"{source.package}={source.version}"],
        "pip": [sys.executable, "-m", "pip", "download", "-q", "--no-binary", ":all:", "--no-deps", "-d", str(into), f"{source.package}=={source.version}"],
    }
    command = commands[source.client]
    try:
        done = subprocess.run(command, cwd=into, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as error:
        raise FetchError(f"{source.package} {source.version}: `{' '.join(command)}` did not run: {error}") from None
    found = [p for p in into.iterdir() if p.suffix in (".tgz", ".gz", ".deb")]
    if done.returncode != 0 or len(found) != 1:
        hint = " (has `apt-get update` run? is the version still in Debian?)" if source.client == "apt" else ""
        raise FetchError(f"{source.package} {source.version}: `{' '.join(command)}` failed{hint}: {done.stderr.strip()[-500:]}")
    return found[0]


def _unpack(archive: Path, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    if archive.suffix == ".deb":
        subprocess.run(["dpkg-deb", "-x", str(archive), str(into)], check=True, capture_output=True)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(into, filter="data")
