"""The files the user worked in last, cut into chunks of lines, and the chunks most like the code
around the cursor (Jaccard similarity of their identifier sets, as llama.vscode and Continue
rank them).

Memory is bounded: `capacity` files, each read up to `max_lines` lines. A front end calls `update`
on every open, change and save and `forget` on close; completions call `chunks_like` from another
thread, so the ring is guarded by a lock and a file's chunks are cut on first use after a change.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .snippets import Snippet, display_path, identifiers


@dataclass(frozen=True)
class Chunk:
    line: int  # 0-based first line
    text: str  # whole lines, without a final newline
    words: frozenset[str]


@dataclass(frozen=True)
class _File:
    text: str
    chunk_lines: int
    max_lines: int

    @cached_property
    def chunks(self) -> tuple[Chunk, ...]:
        return cut(self.text, self.chunk_lines, self.max_lines)


def cut(text: str, chunk_lines: int, max_lines: int) -> tuple[Chunk, ...]:
    """`text`'s first `max_lines` lines in chunks of `chunk_lines`, on line boundaries; chunks with
    no identifier left out."""
    lines = text.split("\n")[:max_lines]
    chunks = []
    for start in range(0, len(lines), chunk_lines):
        body = "\n".join(lines[start : start + chunk_lines]).rstrip("\n")
        words = identifiers(body)
        if words:
            chunks.append(Chunk(start, body, words))
    return tuple(chunks)


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


class RecentFiles:
    """A ring of the last `capacity` documents used (least recently used dropped first)."""

    def __init__(self, capacity: int = 8, chunk_lines: int = 16, max_lines: int = 4000, min_similarity: float = 0.1):
        if capacity < 1 or chunk_lines < 1 or max_lines < 1:
            raise ValueError(f"capacity, chunk_lines and max_lines must be at least 1, got {capacity}, {chunk_lines}, {max_lines}")
        if not 0 <= min_similarity <= 1:
            raise ValueError(f"min_similarity must be in [0, 1], got {min_similarity}")
        self.capacity = capacity
        self.chunk_lines = chunk_lines
        self.max_lines = max_lines
        self.min_similarity = min_similarity  # a chunk less like the query than this is noise, not context
        self._files: OrderedDict[Path, _File] = OrderedDict()
        self._lock = threading.Lock()

    def update(self, path: str | Path, text: str) -> None:
        """The document at `path` was opened, changed or saved, and now reads `text`."""
        key = Path(path).resolve()
        with self._lock:
            known = self._files.get(key)
            if known is None or known.text != text:
                self._files[key] = _File(text, self.chunk_lines, self.max_lines)
            self._files.move_to_end(key)
            while len(self._files) > self.capacity:
                self._files.popitem(last=False)

    def forget(self, path: str | Path) -> None:
        with self._lock:
            self._files.pop(Path(path).resolve(), None)

    def __len__(self) -> int:
        return len(self._files)

    def chunks_like(self, query: str, exclude: str | Path | None, limit: int, workspace: Path | None = None) -> list[Snippet]:
        """At most `limit` chunks of files other than `exclude`, the most like `query` first (ties
        by path and line, so the same files and query give the same chunks)."""
        words = identifiers(query)
        if not words or limit <= 0:
            return []
        skipped = Path(exclude).resolve() if exclude is not None else None
        with self._lock:
            files = [(path, file) for path, file in self._files.items() if path != skipped]
        scored = []
        for path, file in files:
            for chunk in file.chunks:
                similarity = jaccard(words, chunk.words)
                if similarity >= self.min_similarity and similarity > 0:
                    scored.append((-similarity, path.as_posix(), chunk.line, chunk.text))
        scored.sort()
        chosen: dict[str, Snippet] = {}  # by text: a header every file repeats is shown once
        for _, path, line, text in scored:
            if len(chosen) == limit:
                break
            chosen.setdefault(text, Snippet(display_path(Path(path), workspace), text, "recent", line))
        return list(chosen.values())
