"""A definition's outline: what a caller needs of it, without its body.

Python (tree-sitter): a function's `def` line(s) and its docstring's first line; a class's header,
docstring line, and its members' signatures (bodies replaced by `...`) and attribute lines; an
assignment whole when it is short (a type alias over a few lines), else its first line and `...`,
under its class's header for a class attribute. Other languages: the definition's lines up to its
opening `{`, else its first line.
"""

from __future__ import annotations

import tree_sitter

from ..languages.grammars import python_parser

_INDENT = "    "
_MAX_MEMBERS = 24  # a class's lines at most, past its header: a big class keeps its first members
_MAX_HEADER_LINES = 8  # lines searched for a C-family definition's `{`
_MAX_STATEMENT_LINES = 6  # an assignment longer than this shows its first line: a table says little


def outline(source: str, line: int, column: int, language: str) -> str | None:
    """The outline of the definition whose name is at 0-based (`line`, `column`) of `source`; None
    when nothing there is a definition this reads (a module, a loop variable)."""
    if language == "python":
        return python_outline(source, line, column)
    return brace_outline(source, line)


def python_outline(source: str, line: int, column: int) -> str | None:
    lines = source.split("\n")
    if not 0 <= line < len(lines):
        return None
    data = source.encode("utf-8")
    point = (line, len(lines[line][:column].encode("utf-8")))
    node: tree_sitter.Node | None = python_parser().parse(data).root_node.named_descendant_for_point_range(point, point)
    while node is not None:
        if node.type in ("function_definition", "class_definition"):
            body = node.child_by_field_name("body")
            if body is not None and point >= body.start_point:
                return None  # a name inside a body that is not an assignment
            return "\n".join(_function(node) if node.type == "function_definition" else _class(node))
        if _is_assignment(node):
            return "\n".join(_attribute(node))
        node = node.parent
    return None


def brace_outline(source: str, line: int) -> str | None:
    lines = source.split("\n")
    if not 0 <= line < len(lines):
        return None
    taken = lines[line : line + 1]
    for end, text in enumerate(lines[line : line + _MAX_HEADER_LINES]):
        if (brace := text.find("{")) >= 0:
            taken = [*lines[line : line + end], text[:brace].rstrip()]
            break
    indent = len(taken[0]) - len(taken[0].lstrip())
    kept = "\n".join(_dedent(text, indent) for text in taken).strip("\n")
    return kept if kept.strip() else None


def _dedent(line: str, column: int) -> str:
    """`line` less `column` characters of indentation (less all of it, if it has fewer)."""
    return line[column:] if not line[:column].strip() else line.lstrip()


def _is_assignment(node: tree_sitter.Node) -> bool:
    return node.type == "expression_statement" and node.named_child_count > 0 and node.named_children[0].type in ("assignment", "augmented_assignment")


def _text(node: tree_sitter.Node) -> str:
    assert node.text is not None  # a tree parsed from bytes keeps its nodes' text
    return node.text.decode("utf-8", "replace")


def _header(node: tree_sitter.Node) -> list[str]:
    """A definition's lines from its first decorator through the colon that opens its body,
    continuation lines dedented by its own indentation."""
    start = node.parent if node.parent is not None and node.parent.type == "decorated_definition" else node
    colon = next(c for c in node.children if c.type == ":")
    data = start.text
    assert data is not None
    text = data[: colon.end_byte - start.start_byte].decode("utf-8", "replace")
    column = start.start_point.column
    first, *rest = text.split("\n")
    return [first, *(_dedent(line, column) for line in rest)]


def _docstring(node: tree_sitter.Node) -> str | None:
    """The first line of a function's or class's docstring, closed with its quotes."""
    body = node.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_child_count else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    if string.type != "string" or string.child_count < 2:
        return None
    opening, closing = _text(string.children[0]), _text(string.children[-1])
    content = _text(string)[len(opening) : -len(closing) or None]
    line = next((text.strip() for text in content.split("\n") if text.strip()), "")
    return f"{opening}{line}{closing}" if line else None


def _attribute(node: tree_sitter.Node) -> list[str]:
    """An assignment, under its class's header when it is a class attribute (a lone `name: str`
    says little)."""
    body = node.parent
    owner = body.parent if body is not None and body.type == "block" else None
    if owner is not None and owner.type == "class_definition":
        return [*_header(owner), *(_INDENT + line for line in _statement(node))]
    return _statement(node)


def _statement(node: tree_sitter.Node) -> list[str]:
    """An assignment's lines, continuation lines dedented by its own indentation; when it is
    longer than `_MAX_STATEMENT_LINES`, its first line and `...` (a first line alone, such as
    `Types = Union[`, would be cut-off code)."""
    first, *rest = _text(node).split("\n")
    if len(rest) >= _MAX_STATEMENT_LINES:
        return [first.rstrip(), _INDENT + "..."]
    return [first.rstrip(), *(_dedent(line, node.start_point.column).rstrip() for line in rest)]


def _function(node: tree_sitter.Node) -> list[str]:
    doc = _docstring(node)
    return [*_header(node), *([_INDENT + doc] if doc else []), _INDENT + "..."]


def _class(node: tree_sitter.Node) -> list[str]:
    doc = _docstring(node)
    members = [_INDENT + line for member in _members(node) for line in _member(member)]
    if len(members) > _MAX_MEMBERS:
        members = [*members[:_MAX_MEMBERS], _INDENT + "..."]
    return [*_header(node), *([_INDENT + doc] if doc else []), *(members or [_INDENT + "..."])]


def _members(node: tree_sitter.Node) -> list[tree_sitter.Node]:
    body = node.child_by_field_name("body")
    return [child for child in body.named_children if child.type != "comment"] if body is not None else []


def _member(member: tree_sitter.Node) -> list[str]:
    """A class member as its signature with the body `...`, an attribute as `_statement` shows it."""
    inner = member.child_by_field_name("definition") if member.type == "decorated_definition" else member
    if inner is not None and inner.type in ("function_definition", "class_definition"):
        *head, last = _header(inner)
        return [*head, last + " ..."]
    return _statement(member) if _is_assignment(member) else []
