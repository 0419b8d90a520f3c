"""Monitors for a completion: one static-analysis session per workspace, a guide per request.

The Assistant calls `prefetch` before the prompt's prefill (the first language-server question
goes out early) and `guide_for` after it; that gives the enabled monitors (name and argument
monitors) over a language server started for the workspace root (kept for later requests), or
None when monitors are off, there is no workspace, or the server cannot run (the reason is kept in
`notes` and logged; completions go on unguided).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from decoders.guides import AllOf, Guide
from decoders.monitors import MonitorContext, MonitorStats, NameIndex, NameMonitor, Trigger
from decoders.monitors.arguments import ArgumentContext, ArgumentMonitor
from decoders.vocabulary import Vocabulary

from . import languages
from .config import MonitorConfig
from .errors import GuidecodeError
from .languages import Language

log = logging.getLogger("guidecode.monitors")

_TRIGGERS = {"dereference": Trigger.DEREFERENCE, "imports": Trigger.IMPORT}
_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")


def project_root(path: Path) -> Path:
    """The nearest enclosing directory with a project marker, else the file's own directory."""
    start = path.resolve().parent
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in _PROJECT_MARKERS):
            return directory
    return start


@dataclass
class Monitors:
    vocabulary: Vocabulary
    config: MonitorConfig = field(default_factory=MonitorConfig)
    notes: list[str] = field(default_factory=list)  # why a workspace went unmonitored
    _sessions: dict = field(default_factory=dict)  # resolved root -> AnalysisSession
    _index: NameIndex | None = None

    def prefetch(self, workspace: str | Path | None, path: str | Path | None, prefix: str, suffix: str, language: Language | None = None) -> None:
        """Send the first question the monitors will ask for this completion now, so that the
        language server answers while the model reads its prompt. `language`: the document's
        (default: as its file name says)."""
        context = self._context(workspace, path, prefix, suffix, language)
        if context is None or (query := NameMonitor.upcoming(context)) is None:
            return
        before, after = query
        prefetch = getattr(context.analysis, "prefetch", None)
        if prefetch is not None:
            prefetch(context.path, before + after, len(before))

    def guide_for(
        self, workspace: str | Path | None, path: str | Path | None, prefix: str, suffix: str, language: Language | None = None
    ) -> tuple[Guide, MonitorStats] | None:
        """The monitors for one completion and the counters they share; None: unguided."""
        context = self._context(workspace, path, prefix, suffix, language)
        if context is None:
            return None
        guides: list[Guide] = [NameMonitor.start(context)] if context.triggers else []
        if "arguments" in self.config.enabled:
            guides.append(ArgumentMonitor.start(ArgumentContext(context)))
        return (guides[0] if len(guides) == 1 else AllOf(tuple(guides))), context.stats

    def _context(self, workspace: str | Path | None, path: str | Path | None, prefix: str, suffix: str, language: Language | None) -> MonitorContext | None:
        if workspace is None or not self.config.enabled:
            return None
        language = language or languages.detect(path)
        if language is not languages.PYTHON:
            self._note_once(f"monitors off for {language.name} documents: no language server for them here; completing unguided")
            return None
        root = Path(workspace).resolve()
        session = self._session(root)
        if session is None:
            return None
        document = Path(path).resolve() if path else root / "untitled.py"  # an unsaved document: a name under the root
        triggers = frozenset(_TRIGGERS[name] for name in self.config.enabled if name in _TRIGGERS)
        return MonitorContext(session, str(document), prefix, suffix, self.index, triggers)

    def _note_once(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)
            log.warning(note)

    def prepare(self, workspace: str | Path) -> bool:
        """Start the workspace's language server and build the token index now, rather than in
        the first request; whether the monitors can run there."""
        if not self.config.enabled:
            return False
        _ = self.index  # built now: ~1 s
        return self._session(Path(workspace).resolve()) is not None

    def reconfigure(self, config: MonitorConfig) -> None:
        if config.language_server != self.config.language_server:
            self.close()  # sessions of the other server
        self.config = config

    @property
    def index(self) -> NameIndex:
        if self._index is None:
            self._index = NameIndex(self.vocabulary)  # ~1 s once per tokenizer
        return self._index

    def _session(self, root: Path):
        from .analysis import AnalysisConfig, AnalysisSession  # the client pulls in asyncio machinery only when used

        if root not in self._sessions:
            if not root.is_dir():
                raise GuidecodeError(f"workspace {root} is not a directory; pass --workspace with a project folder")
            session = AnalysisSession(root, AnalysisConfig(server=self.config.language_server, budget_s=self.config.budget_s))
            session.start()
            if not session.available:
                note = f"monitors off for {root}: {session.unavailable_reason}"
                self.notes.append(note)
                log.warning(note)
            self._sessions[root] = session
        session = self._sessions[root]
        return session if session.available else None

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
