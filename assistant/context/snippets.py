"""What repository context is made of: snippets of other files, and the lines around the cursor
that choose them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

IDENTIFIER = re.compile(r"[^\W\d]\w*")

SnippetKind = Literal["definition", "recent"]


@dataclass(frozen=True)
class Snippet:
    path: str  # as the prompt shows it: relative to the workspace when inside it
    text: str  # whole lines, without a final newline
    kind: SnippetKind  # "definition": a symbol's signature; "recent": a chunk of a recently used file
    line: int = 0  # 0-based, where `text` starts in its file: orders the snippets of one file


def display_path(path: Path, workspace: Path | None) -> str:
    """`path` relative to `workspace` (with "/") when inside it, else as it is."""
    if workspace is not None and path.is_relative_to(workspace):
        return path.relative_to(workspace).as_posix()
    return path.as_posix()


def identifiers(text: str) -> frozenset[str]:
    return frozenset(IDENTIFIER.findall(text))


@dataclass(frozen=True)
class CursorWindow:
    """The lines around the cursor, less the word the cursor is in: typing a word changes nothing
    here until the word is done, so the context it chooses stays the same between keystrokes (and
    the keys and values of the prompt's front are reused)."""

    text: str  # the whole document
    start: int  # the window: [start, end) of `text`, on line boundaries
    end: int
    word: tuple[int, int]  # the span of the word at the cursor, left out (empty when none)

    @classmethod
    def at(cls, text: str, cursor: int, before: int = 8, after: int = 4) -> CursorWindow:
        """The window of `before` lines above the cursor's line and `after` below it."""
        start = text.rfind("\n", 0, cursor) + 1  # the cursor's line
        for _ in range(before):
            start = text.rfind("\n", 0, start - 1) + 1 if start > 0 else 0
        end = cursor
        for _ in range(after + 1):
            found = text.find("\n", end)
            end = len(text) if found < 0 else found + 1
        word_start, word_end = cursor, cursor
        while word_start > start and _in_word(text[word_start - 1]):
            word_start -= 1
        while word_end < end and _in_word(text[word_end]):
            word_end += 1
        return cls(text, start, end, (word_start, word_end))

    @property
    def query(self) -> str:
        """The window's text without the word at the cursor."""
        return self.text[self.start : self.word[0]] + self.text[self.word[1] : self.end]

    def names(self) -> list[tuple[str, int]]:
        """Each identifier of the window once, with its occurrence nearest the cursor, nearest first."""
        cursor = self.word[0]
        nearest: dict[str, int] = {}
        for match in IDENTIFIER.finditer(self.text, self.start, self.end):
            if match.start() < self.word[1] and match.end() > self.word[0]:
                continue  # the word being typed
            name, at = match.group(), match.start()
            if name not in nearest or abs(at - cursor) < abs(nearest[name] - cursor):
                nearest[name] = at
        return sorted(nearest.items(), key=lambda item: (abs(item[1] - cursor), item[1]))


def _in_word(char: str) -> bool:
    return char.isalnum() or char == "_"
