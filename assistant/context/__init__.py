"""Repository context for completions: the definitions of the symbols near the cursor and chunks of
recently used files, placed before the completion prompt in the model family's repository format.

`snippets` says what a snippet is and which lines around the cursor choose them; `recent` keeps
the recently used files and finds their chunks most like those lines; `definitions` asks the
language server where the nearby and imported names are defined, and `outline` cuts each
definition to its signature; `assemble` turns the snippets into prompt tokens within a budget;
`repository` does all of it for one request; `gate` decides whether a completion needs it.
"""

from .assemble import REPO_FORMATS, ContextAssembler, RepoFormat
from .definitions import Definitions, DefinitionSource
from .recent import RecentFiles
from .repository import Document, RepositoryContext
from .snippets import CursorWindow, Snippet, display_path

__all__ = [
    "REPO_FORMATS",
    "ContextAssembler",
    "CursorWindow",
    "DefinitionSource",
    "Definitions",
    "Document",
    "RecentFiles",
    "RepoFormat",
    "RepositoryContext",
    "Snippet",
    "display_path",
]
