"""What a language server knows of a document the client owns: LSP positions, and the one
incremental change that brings its copy from the old text to the new.

LSP positions count lines (split at "\r\n", "\r" or "\n") and UTF-16 code units within a line;
Python strings index code points, so a character beyond the BMP is two units here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass
class OpenDocument:
    uri: str
    text: str
    version: int = 0
    queried: bool = False  # a query has run since didOpen: later ones get the warm budget


def lsp_position(text: str, offset: int, utf16: bool = True) -> dict:
    """The LSP position of a character offset: line, and UTF-16 code units into that line (code
    points with utf16=False, for a server that reads columns so; see servers.py)."""
    line, start = 0, 0
    for match in LINE_BREAK.finditer(text, 0, offset):
        line, start = line + 1, match.end()
    segment = text[start:offset]
    return {"line": line, "character": len(segment.encode("utf-16-le")) // 2 if utf16 else len(segment)}


def incremental_change(old: str, new: str) -> dict:
    """The one didChange content change that turns `old` into `new`: the span between their
    common prefix and common suffix, replaced."""
    prefix = _common_length(old, new, min(len(old), len(new)), from_end=False)
    suffix = _common_length(old, new, min(len(old), len(new)) - prefix, from_end=True)
    # LSP counts "\r\n" as one break, so a boundary between its halves has no position
    if prefix and old[prefix - 1] == "\r" and "\n" in (old[prefix : prefix + 1], new[prefix : prefix + 1]):
        prefix -= 1
    if suffix and old[-suffix] == "\n" and "\r" in (old[-suffix - 1 : -suffix], new[-suffix - 1 : -suffix]):
        suffix -= 1
    span = {"start": lsp_position(old, prefix), "end": lsp_position(old, len(old) - suffix)}
    return {"range": span, "text": new[prefix : len(new) - suffix]}


def _common_length(a: str, b: str, limit: int, from_end: bool) -> int:
    """Length of the common prefix (or suffix) of a and b, at most limit; a binary search over
    slice comparisons, which run in C, instead of a Python loop per character."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        same = a[len(a) - mid :] == b[len(b) - mid :] if from_end else a[:mid] == b[:mid]
        lo, hi = (mid, hi) if same else (lo, mid - 1)
    return lo
