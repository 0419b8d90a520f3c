"""Which language a document is written in, from its file name (or an editor's language id), and
what the rest of the assistant needs to know about it: whether its blocks are braces or
indentation, and whether the monitors' static analysis understands it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Language:
    name: str  # the LSP language id
    braces: bool  # blocks open with `{` and close with `}` (else: by indentation, or unknown)
    monitored: bool = False  # the monitors' language servers (jedi, basedpyright) analyse it


PYTHON = Language("python", braces=False, monitored=True)
TEXT = Language("plaintext", braces=False)  # anything not recognised: completed, unguided

_BRACES = ("javascript", "javascriptreact", "typescript", "typescriptreact", "go", "rust", "java", "c", "cpp", "csharp", "kotlin", "swift", "scala", "php")
LANGUAGES: dict[str, Language] = {"python": PYTHON, "plaintext": TEXT, **{name: Language(name, braces=True) for name in _BRACES}}

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
    ".hpp": "cpp",
    ".hh": "cpp",
    ".cs": "csharp",
    ".kt": "kotlin",
    ".swift": "swift",
    ".scala": "scala",
    ".php": "php",
}


def detect(path: str | Path | None = None, language_id: str | None = None) -> Language:
    """The document's language: the editor's language id when it names one known here, else the
    file's suffix; a document with neither (stdin, an unsaved buffer) is taken for Python, the
    language every front end started with."""
    if language_id and language_id in LANGUAGES:
        return LANGUAGES[language_id]
    if path is not None and str(path) != "-":
        return LANGUAGES[_SUFFIXES.get(Path(path).suffix.lower(), "plaintext")]
    return LANGUAGES.get(language_id or "python", TEXT)
