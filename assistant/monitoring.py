"""Monitors for a completion: one static-analysis session per workspace and language server, a
guide per request.

The Assistant calls `prefetch` before the prompt's prefill (the first language-server question
goes out early) and `guide_for` after it; that gives the enabled monitors (name and argument
monitors) over the document's language's server, started for the workspace root on first use
(kept for later requests): jedi or basedpyright for Python, typescript-language-server for
TypeScript and JavaScript, clangd for C and C++, gopls for Go. It gives None when monitors are off,
there is no workspace, the language has no server here, or the server cannot run (the reason is
kept in `notes`, logged once, and completions go on unguided). The argument monitor checks keyword
arguments in Python, and in TypeScript, JavaScript, C and C++ only how many arguments a call takes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from decoders.brace_lexer import BraceLexer, Triggers
from decoders.guides import AllOf, Guide
from decoders.lexer import CodeLexer, Lexer
from decoders.monitors import MonitorContext, MonitorStats, NameIndex, NameMonitor, Trigger
from decoders.monitors.arguments import ArgumentContext, ArgumentMonitor
from decoders.vocabulary import Vocabulary

from . import languages
from .config import MonitorConfig
from .errors import GuidecodeError
from .languages import Language

log = logging.getLogger("guidecode.monitors")

_TRIGGERS = {"dereference": Trigger.DEREFERENCE, "imports": Trigger.IMPORT}
_PROJECT_MARKERS = (
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "package.json",
    "tsconfig.json",
    "go.mod",
    "Cargo.toml",
    "compile_commands.json",
    "compile_flags.txt",
    ".git",
)

# The lexer that finds member triggers in each language's text: Python's own, or the C family's
# with the triggers the language has besides "." (one object each, so scans of a prefix are shared).
_LEXERS: dict[str, Callable[[], CodeLexer]] = {
    "python": Lexer,
    "c": functools.partial(BraceLexer, Triggers(arrow=True)),
    "cpp": functools.partial(BraceLexer, Triggers(arrow=True, path=True)),
    "rust": functools.partial(BraceLexer, Triggers(path=True)),
}


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
    _sessions: dict = field(default_factory=dict)  # (resolved root, server name) -> AnalysisSession
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
        if "arguments" in self.config.enabled and self._signatures(context):  # keywords are Python's; elsewhere the count alone
            guides.append(ArgumentMonitor.start(ArgumentContext(context, keywords=context.new_lexer is Lexer)))
        return (guides[0] if len(guides) == 1 else AllOf(tuple(guides))), context.stats

    def _context(self, workspace: str | Path | None, path: str | Path | None, prefix: str, suffix: str, language: Language | None) -> MonitorContext | None:
        if workspace is None or not self.config.enabled:
            return None
        language = language or languages.detect(path)
        root = Path(workspace).resolve()
        session = self._session(root, language)
        if session is None:
            return None
        # an unsaved document: a name under the root, with its language's suffix for the server
        document = Path(path).resolve() if path else root / f"untitled{languages.suffix_for(language.name)}"
        triggers = frozenset(_TRIGGERS[name] for name in self.config.enabled if name in _TRIGGERS)
        new_lexer = _LEXERS.get(language.name, BraceLexer)
        return MonitorContext(session, str(document), prefix, suffix, self.index, triggers, new_lexer=new_lexer)

    @staticmethod
    def _signatures(context: MonitorContext) -> bool:
        """Whether the context's server is asked for signatures (see registry.ServerSpec.parameters)."""
        spec = getattr(context.analysis, "spec", None)
        return spec is None or spec.parameters is not None

    def _note_once(self, note: str) -> None:
        if note not in self.notes:
            self.notes.append(note)
            log.warning(note)

    def prepare(self, workspace: str | Path, language: Language = languages.PYTHON) -> bool:
        """Start the workspace's language server for `language` and build the token index now,
        rather than in the first request; whether the monitors can run there."""
        if not self.config.enabled:
            return False
        _ = self.index  # built now: ~1 s
        return self._session(Path(workspace).resolve(), language) is not None

    def analysis(self, workspace: str | Path, language: Language):
        """The analysis session of `language`'s server over `workspace` (the monitors' own, started
        on first use), whether or not monitors are on; None when there is none. Repository context
        asks it where names are defined."""
        return self._session(Path(workspace).resolve(), language)

    def reconfigure(self, config: MonitorConfig) -> None:
        if config.language_server != self.config.language_server:
            self.close()  # sessions of the other Python server
        self.config = config

    def server_for(self, language: Language) -> str | None:
        """The language server that analyses `language` here, or None when there is none."""
        from .analysis import server_for  # the client pulls in asyncio machinery only when used

        return self.config.language_server if language.name == "python" else server_for(language.name)

    @property
    def index(self) -> NameIndex:
        if self._index is None:
            self._index = NameIndex(self.vocabulary)  # ~1 s once per tokenizer
        return self._index

    def _session(self, root: Path, language: Language):
        """The analysis session of `language`'s server over `root`, started on first use (one per
        workspace and server); None when there is no server for it or it cannot run."""
        from .analysis import AnalysisConfig, AnalysisSession  # the client pulls in asyncio machinery only when used

        server = self.server_for(language)
        if server is None:
            self._note_once(f"monitors off for {language.name} documents: no language server for them here; completing unguided")
            return None
        if (root, server) not in self._sessions:
            if not root.is_dir():
                raise GuidecodeError(f"workspace {root} is not a directory; pass --workspace with a project folder")
            session = AnalysisSession(root, AnalysisConfig(server=server, budget_s=self.config.budget_s))
            session.start()
            if not session.available:
                self._note_once(f"monitors off for {language.name} documents in {root}: {session.unavailable_reason}; completing unguided")
            self._sessions[(root, server)] = session
        session = self._sessions[(root, server)]
        return session if session.available else None

    def close(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
