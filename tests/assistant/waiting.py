"""A progress display that says when a loader starts waiting for another process's lock."""

from __future__ import annotations

import contextlib
import threading

from assistant.progress import Progress


class Told(Progress):
    """Records the phases it shows, and says when the loader starts waiting (a phase the user sees)."""

    def __init__(self):
        super().__init__(None)
        self.waiting = threading.Event()
        self.phases: list[str] = []

    @contextlib.contextmanager
    def phase(self, description):
        self.phases.append(description)
        self.waiting.set() if description.startswith("waiting for another") else None
        yield
