"""Python's blocks: a header's `:` (after `def`, `if`, `class`, …) opens an indented block, and so
does a function's docstring while it is all the body has."""

from __future__ import annotations

import tree_sitter

from ..languages.grammars import python_parser
from .base import indent, last_leaf_before

# Statements (and clauses) whose `:` opens an indented block.
BLOCK_OWNERS = frozenset(
    {
        "function_definition",
        "class_definition",
        "if_statement",
        "elif_clause",
        "else_clause",
        "for_statement",
        "while_statement",
        "with_statement",
        "try_statement",
        "except_clause",
        "except_group_clause",
        "finally_clause",
        "match_statement",
        "case_clause",
    }
)

_BLOCK_KEYWORDS = frozenset({"def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "async", "match", "case"})


class PythonBlocks:
    def header_indent(self, text: str, cursor: int, on_header: bool, language: str) -> int | None:
        if on_header and not text[:cursor].rstrip().endswith(":"):
            return None
        tree = python_parser().parse(text.encode("utf-8"))
        end_byte = len(text[:cursor].rstrip().encode("utf-8"))
        leaf = last_leaf_before(tree.root_node, end_byte)
        if leaf is None or leaf.parent is None:
            return None
        lines = text.split("\n")
        if (owner := _docstring_owner(leaf)) is not None:
            return indent(lines[owner.start_point[0]])
        if leaf.type != ":":
            return None
        owner = leaf.parent
        if owner.type in BLOCK_OWNERS:
            return indent(lines[owner.start_point[0]])
        # Incomplete code parses into ERROR nodes; accept a colon ending a line that starts with a
        # block keyword, which is what the user is in the middle of typing.
        line = lines[leaf.start_point[0]]
        if owner.type == "ERROR" and _first_word(line) in _BLOCK_KEYWORDS:
            return indent(line)
        return None


def _docstring_owner(leaf: tree_sitter.Node) -> tree_sitter.Node | None:
    """The def/class whose body so far is only the docstring that `leaf` ends, else None."""
    string = leaf.parent
    statement = string.parent if string is not None and string.type == "string" else None
    block = statement.parent if statement is not None and statement.type == "expression_statement" else None
    if statement is None or block is None or block.type != "block" or block.parent is None:
        return None
    only_docstring = block.named_child_count == 1 and statement.named_child_count == 1
    return block.parent if only_docstring and block.parent.type in ("function_definition", "class_definition") else None


def _first_word(line: str) -> str:
    word = line.lstrip().split(" ", 1)[0]
    return word.split("(", 1)[0].split(":", 1)[0]
