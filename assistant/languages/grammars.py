"""tree-sitter parsers by language, from the grammar wheels of the package index; None for a
language without one here (its scope is read by brackets and indentation)."""

from __future__ import annotations

import importlib
from functools import cache

import tree_sitter

# language id -> (module, function returning the grammar)
_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "javascriptreact": ("tree_sitter_javascript", "language"),  # the JavaScript grammar parses JSX
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "typescriptreact": ("tree_sitter_typescript", "language_tsx"),
    "go": ("tree_sitter_go", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "java": ("tree_sitter_java", "language"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
}


@cache
def parser_for(language: str) -> tree_sitter.Parser | None:
    if language not in _GRAMMARS:
        return None
    module, function = _GRAMMARS[language]
    grammar = getattr(importlib.import_module(module), function)()
    return tree_sitter.Parser(tree_sitter.Language(grammar))


def python_parser() -> tree_sitter.Parser:
    parser = parser_for("python")
    assert parser is not None  # tree-sitter-python is a dependency
    return parser
