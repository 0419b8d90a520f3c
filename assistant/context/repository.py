"""One assistant's repository context: the snippets for a request gathered (definitions through
the language server, chunks of the recent files) and assembled into prompt tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..languages import Language
from .assemble import ContextAssembler
from .definitions import Definitions, DefinitionSource
from .recent import RecentFiles
from .snippets import CursorWindow, Snippet, display_path

if TYPE_CHECKING:  # annotations only: a package inside assistant/ imports none of its top-level modules
    from ..prompts import PromptBuilder

RECENT_CHUNKS = 8  # candidates from the recent files; the token budget decides how many fit


@dataclass(frozen=True)
class Document:
    """The document a completion is for, as the language server is shown it."""

    path: Path  # resolved
    text: str
    cursor: int
    language: Language
    workspace: Path | None  # resolved; None: no project, so no definitions


@dataclass
class RepositoryContext:
    prompts: PromptBuilder
    assembler: ContextAssembler = field(init=False)
    definitions: Definitions = field(default_factory=Definitions)  # kept between requests

    def __post_init__(self) -> None:
        self.assembler = ContextAssembler(self.prompts)  # reads the vocabulary (~150k entries): once

    def tokens(self, document: Document, budget: int, analysis: DefinitionSource | None, recent: RecentFiles | None) -> list[int]:
        """The context's tokens, at most `budget`: definitions through `analysis` (a language
        server over the workspace), chunks of the `recent` files."""
        window = CursorWindow.at(document.text, document.cursor)
        snippets: list[Snippet] = []
        if analysis is not None and document.workspace is not None:
            snippets += self.definitions.snippets(analysis, document.workspace, document.path, document.text, window, document.language.name)
        root = document.workspace or document.path.parent  # without a project, the document's folder stands for it
        if recent is not None:
            snippets += recent.chunks_like(window.query, document.path, RECENT_CHUNKS, root)
        return self.assembler.assemble(snippets, display_path(document.path, root), root.name, document.language, budget)

    def insert(self, prompt: list[int], context: list[int]) -> list[int]:
        return self.assembler.insert(prompt, context)
