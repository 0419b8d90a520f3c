"""Progress reporting for long work (assembling, converting, loading), on stderr with rich.

A `Progress` is passed down explicitly; library callers that want silence use `Progress.silent()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.progress import Progress as RichProgress


@dataclass
class Progress:
    console: Console | None  # None: report nothing

    @classmethod
    def silent(cls) -> Progress:
        return cls(None)

    @classmethod
    def to_stderr(cls) -> Progress:
        """Bars on a terminal; silence when stderr is a pipe or a file (logs, tests, editors)."""
        console = Console(stderr=True)
        return cls(console if console.is_terminal else None)

    @contextmanager
    def bytes(self, description: str, total: int) -> Iterator[Callable[[int], None]]:
        """A bar over `total` bytes; yields the function that advances it."""
        if self.console is None:
            yield lambda n: None
            return
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn())
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda n: bar.advance(task, n)

    @contextmanager
    def count(self, description: str, total: int, completed: int = 0) -> Iterator[Callable[[int, str], None]]:
        """A bar over `total` items of work, `completed` of them already done (a resumed run);
        yields `advance(n, note)`, whose note (e.g. "12 passed") shows after the bar."""
        if self.console is None:
            yield lambda n, note="": None
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=total, completed=completed, note="")
            yield lambda n, note="": bar.update(task, advance=n, note=note)

    @contextmanager
    def phase(self, description: str) -> Iterator[None]:
        """A spinner with elapsed time for work whose size is unknown."""
        if self.console is None:
            yield
            return
        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with RichProgress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(description, total=None)
            yield
            bar.update(task, total=1, completed=1)
