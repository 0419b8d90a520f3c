"""How much to write at the cursor, decided with tree-sitter, and the stop rules that enforce it.

- LINE: the cursor is inside or at the end of a line of code: finish that line.
- BLOCK: the cursor opens a block (it follows a `def …:`, `if …:`, `class …:` header in Python,
  or a line ending with `{` in a language of braces, on the header's line or on a blank line after
  it): write the block's body, and stop where a line comes back to the header's indentation (in
  a language of braces, the line of the closing `}`, which the file already has or the user types).

Either way the completion must not repeat what already follows the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import tree_sitter

from .grammars import parser_for
from .languages import PYTHON, Language

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


class ScopeKind(Enum):
    LINE = "line"
    BLOCK = "block"


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind
    line_prefix: str  # the cursor's line, up to the cursor
    line_suffix: str  # the cursor's line, after the cursor
    header_indent: int = 0  # BLOCK: columns of the header line's indentation
    next_line: str = ""  # the first non-blank line after the cursor's line (what must not be repeated)


def python_parser() -> tree_sitter.Parser:
    parser = parser_for("python")
    assert parser is not None  # tree-sitter-python is a dependency
    return parser


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _last_leaf_before(root: tree_sitter.Node, end_byte: int) -> tree_sitter.Node | None:
    """The last token ending at or before `end_byte`, skipping comments."""
    node = root.descendant_for_byte_range(max(end_byte - 1, 0), end_byte)
    while node is not None and ("comment" in node.type or node.end_byte > end_byte or node.child_count):
        if node.child_count and node.end_byte <= end_byte:
            node = node.children[-1]
            continue
        while node is not None and node.prev_sibling is None:
            node = node.parent
        node = node.prev_sibling if node is not None else None
    return node


def _block_header(text: str, cursor: int) -> int | None:
    """Indentation of the block header the cursor opens, or None when it opens no block."""
    tree = python_parser().parse(text.encode("utf-8"))
    end_byte = len(text[:cursor].rstrip().encode("utf-8"))
    leaf = _last_leaf_before(tree.root_node, end_byte)
    if leaf is None or leaf.parent is None:
        return None
    lines = text.split("\n")
    if (owner := _docstring_owner(leaf)) is not None:
        return _indent(lines[owner.start_point[0]])
    if leaf.type != ":":
        return None
    owner = leaf.parent
    if owner.type in BLOCK_OWNERS:
        return _indent(lines[owner.start_point[0]])
    # Incomplete code parses into ERROR nodes; accept a colon ending a line that starts with a
    # block keyword, which is what the user is in the middle of typing.
    line = lines[leaf.start_point[0]]
    if owner.type == "ERROR" and _first_word(line) in _BLOCK_KEYWORDS:
        return _indent(line)
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


_BLOCK_KEYWORDS = frozenset({"def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally", "async", "match", "case"})


def _first_word(line: str) -> str:
    word = line.lstrip().split(" ", 1)[0]
    return word.split("(", 1)[0].split(":", 1)[0]


def decide(text: str, cursor: int, language: Language = PYTHON) -> Scope:
    """The scope of a completion at character offset `cursor` of `text`, written in `language`."""
    line_start = text.rfind("\n", 0, cursor) + 1
    line_end = text.find("\n", cursor)
    line_end = len(text) if line_end < 0 else line_end
    line_prefix, line_suffix = text[line_start:cursor], text[cursor:line_end]
    next_line = next((l for l in text[line_end + 1 :].split("\n") if l.strip()), "")
    opener = ":" if language is PYTHON else "{"
    at_header_end = line_prefix.rstrip().endswith(opener) and not line_suffix.strip()
    on_blank_line = not line_prefix.strip() and not line_suffix.strip()
    if at_header_end or on_blank_line:
        header = _block_header(text, cursor) if language is PYTHON else _brace_header(text, cursor, line_start, at_header_end, language)
        if header is not None:
            return Scope(ScopeKind.BLOCK, line_prefix, line_suffix, header, next_line)
    return Scope(ScopeKind.LINE, line_prefix, line_suffix, next_line=next_line)


def _brace_header(text: str, cursor: int, line_start: int, on_header: bool, language: Language) -> int | None:
    """Indentation of the statement whose `{` the cursor follows (on that line, or on a blank line
    after it), or None when it follows no `{`. With the language's grammar, the `{` must be a token
    (not inside a string or a comment) and the statement is the node around its block; without one,
    brackets and indentation decide."""
    parser = parser_for(language.name)
    if parser is not None:
        return _grammar_brace_header(parser, text, cursor)
    lines = text[:line_start].split("\n")[:-1]  # the lines before the cursor's
    if on_header:
        lines.append(text[line_start:].split("\n", 1)[0])
    lines = [line for line in lines if line.strip()]
    if not lines or not lines[-1].rstrip().endswith("{"):
        return None
    return _header_indent(lines)


def _grammar_brace_header(parser: tree_sitter.Parser, text: str, cursor: int) -> int | None:
    """The grammar says whether the last token before the cursor is a `{` (not one inside a string
    or a comment); where its statement starts is read from the lines, as without a grammar, since
    code being typed parses into error nodes that hide the statement."""
    tree = parser.parse(text.encode("utf-8"))
    leaf = _last_leaf_before(tree.root_node, len(text[:cursor].rstrip().encode("utf-8")))
    if leaf is None or leaf.type != "{":
        return None
    lines = text.split("\n")[: leaf.start_point[0] + 1]
    return _header_indent([line for line in lines if line.strip()])


def _header_indent(lines: list[str]) -> int:
    """Indentation of the statement whose last line is `lines[-1]`: a signature broken over lines
    (more `)` than `(` on its last line) starts where its parentheses balance."""
    depth, i = 0, len(lines) - 1
    while True:
        depth += lines[i].count(")") - lines[i].count("(")
        if depth <= 0 or i == 0:
            return _indent(lines[i])
        i -= 1


def block_end(scope: Scope):
    """A stop predicate: cut where a generated line returns to the header's indentation.

    It cuts at the start of that line (after its newline), which is always within the last
    line of the text it is shown, as streaming requires.
    """

    def check(text: str) -> int | None:
        start = text.find("\n") + 1  # the first line continues the cursor's line: never a dedent
        while start > 0:
            end = text.find("\n", start)
            line = text[start:] if end < 0 else text[start:end]
            if line.strip() and _indent(line) <= scope.header_indent:
                return start
            start = end + 1
        return None

    return check


def repeats_next_line(scope: Scope):
    """A stop predicate: cut a completed line that equals the first line after the cursor."""
    target = scope.next_line.rstrip()

    def check(text: str) -> int | None:
        if not target or not text.endswith("\n"):
            return None
        start = text.rfind("\n", 0, len(text) - 1) + 1
        return start if text[start:-1].rstrip() == target else None

    return check


def finish(text: str, scope: Scope) -> str:
    """The completion as it will be inserted: no trailing blanks, nothing that follows the cursor."""
    text = text.rstrip()
    if scope.kind is ScopeKind.BLOCK:
        lines = text.split("\n")
        if len(lines) > 1 and scope.next_line.strip() and lines[-1].rstrip() == scope.next_line.rstrip():
            text = "\n".join(lines[:-1]).rstrip()
        return text
    ahead = scope.line_suffix.strip()
    for k in range(len(ahead), 0, -1):
        if text.endswith(ahead[:k]):
            return text[: len(text) - k]
    return text
