"""Which language a document is written in, from an editor's language id or its file name, and
the family its blocks belong to (which scope rules read it: assistant/scope/)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Block families (assistant/scope/families.py has one set of rules for each):
# - "python": a header's `:` opens an indented block;
# - "braces": `{` opens a block and `}` closes it;
# - "keywords": a header line (`def`, `if …then`, `… do`) opens a block that an `end` line closes;
# - "text": anything else, read by brackets and indentation.
FAMILIES = ("python", "braces", "keywords", "text")


@dataclass(frozen=True)
class Language:
    name: str  # the LSP language id
    family: str  # one of FAMILIES


PYTHON = Language("python", "python")
TEXT = Language("plaintext", "text")  # anything not recognised: completed, unguided

_BRACES = (
    "javascript",
    "javascriptreact",
    "typescript",
    "typescriptreact",
    "go",
    "rust",
    "java",
    "c",
    "cpp",
    "csharp",
    "kotlin",
    "swift",
    "scala",
    "php",
    "dart",
)
_KEYWORDS = ("ruby", "lua", "elixir", "julia")
LANGUAGES: dict[str, Language] = {
    "python": PYTHON,
    "plaintext": TEXT,
    **{name: Language(name, "braces") for name in _BRACES},
    **{name: Language(name, "keywords") for name in _KEYWORDS},
}

_SUFFIXES = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".go": "go",
    ".rs": "rust",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hxx": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".cs": "csharp",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".php": "php",
    ".dart": "dart",
    ".rb": "ruby",
    ".lua": "lua",
    ".ex": "elixir",
    ".exs": "elixir",
    ".jl": "julia",
}


def detect(path: str | Path | None = None, language_id: str | None = None) -> Language:
    """The document's language: the editor's language id when it names one known here, else the
    file's suffix; a document with neither (stdin, an unsaved buffer) is taken for Python, the
    language every front end started with. An editor's id unknown here (`haskell`) is completed
    as text under that id."""
    if language_id and language_id in LANGUAGES:
        return LANGUAGES[language_id]
    if path is not None and str(path) != "-" and Path(path).suffix:
        return LANGUAGES[_SUFFIXES.get(Path(path).suffix.lower(), "plaintext")]
    if language_id:
        return Language(language_id, "text")
    return PYTHON if path is None or str(path) == "-" else TEXT


def suffix_for(language: str) -> str:
    """A file suffix of the language (for a document that has no name yet); "" if none is known."""
    return next((suffix for suffix, name in _SUFFIXES.items() if name == language), "")
