"""Finding the function whose body to write, with tree-sitter, and the document to complete it in."""

from __future__ import annotations

from dataclasses import dataclass

import tree_sitter

from .errors import GuidecodeError
from .languages.grammars import python_parser

# Statements that mean "body not written yet".
_PLACEHOLDERS = {"pass_statement", "ellipsis"}


@dataclass(frozen=True)
class FunctionSlot:
    name: str
    head: str  # the function from its first line through its docstring, ending with a newline
    indent: str  # the body's indentation
    document: str  # the whole file with the placeholder body removed and an empty body line
    cursor: int  # offset in `document` of the empty body line, after its indentation
    replaced: tuple[int, int]  # character offsets in the original text of what the new body replaces
    text: str = ""  # the original text

    def body(self, written: str) -> str:
        """A completion written at the cursor, as the function's body (indented as the slot's)."""
        return self.indent + written.lstrip(" \t") if written else ""

    def program(self, body: str) -> str:
        """The original text with the function's body replaced by `body`."""
        return splice(self.text, body, self.replaced)


def splice(text: str, body: str, replaced: tuple[int, int]) -> str:
    """`text` with a function's (empty) body, at the offsets `replaced`, replaced by `body`."""
    start, end = replaced
    return text[:start] + "\n" + body + text[end:]


def _functions(node: tree_sitter.Node):
    if node.type == "function_definition":
        yield node
    for child in node.children:
        yield from _functions(child)


def _name(fn: tree_sitter.Node) -> str:
    name = fn.child_by_field_name("name")
    # tree-sitter gives every function_definition a name (a MISSING one where absent); a tree
    # parsed from bytes keeps its nodes' text
    assert name is not None and name.text is not None, fn
    return name.text.decode()


def _is_docstring(stmt: tree_sitter.Node) -> bool:
    return stmt.type == "expression_statement" and stmt.child_count == 1 and stmt.children[0].type == "string"


def _is_placeholder(stmt: tree_sitter.Node) -> bool:
    if stmt.type in _PLACEHOLDERS:
        return True
    return stmt.type == "expression_statement" and stmt.child_count == 1 and stmt.children[0].type == "ellipsis"


def _kept_statements(body: tree_sitter.Node) -> list[tree_sitter.Node]:
    statements = [c for c in body.named_children if c.type != "comment"]
    return statements[:1] if statements and _is_docstring(statements[0]) else []


def _is_unwritten(fn: tree_sitter.Node) -> bool:
    body = fn.child_by_field_name("body")
    statements = [c for c in body.named_children if c.type != "comment"] if body else []
    rest = statements[len(_kept_statements(body)) :] if body else []
    return all(_is_placeholder(s) for s in rest)


def find_function_slot_at(text: str, offset: int) -> FunctionSlot:
    """The slot of the innermost function whose text contains character offset `offset`."""
    source = text.encode("utf-8")
    at = len(text[:offset].encode("utf-8"))
    containing = [f for f in _functions(python_parser().parse(source).root_node) if f.start_byte <= at <= f.end_byte]
    if not containing:
        raise GuidecodeError("the cursor is not inside a function: put it on a function's signature, docstring or body")
    return _slot(source, containing[-1])


def find_function_slot(text: str, name: str | None = None) -> FunctionSlot:
    source = text.encode("utf-8")
    tree = python_parser().parse(source)
    functions = list(_functions(tree.root_node))
    names = [_name(f) for f in functions]
    if name is not None:
        matches = [f for f, n in zip(functions, names) if n == name]
        if not matches:
            known = ", ".join(names) or "none"
            raise GuidecodeError(f"no function named {name!r} in the input (functions found: {known})")
        fn = matches[0]
    else:
        unwritten = [f for f in functions if _is_unwritten(f)]
        if not unwritten:
            raise GuidecodeError("no function to write: give a signature whose body is empty, only a docstring, '...' or 'pass', or name one with --function")
        fn = unwritten[0]
    return _slot(source, fn)


def _slot(source: bytes, fn: tree_sitter.Node) -> FunctionSlot:
    body = fn.child_by_field_name("body")
    kept = _kept_statements(body) if body else []
    # Keep the docstring if there is one, else the header through its colon.
    head_end = kept[-1].end_byte if kept else next(c for c in fn.children if c.type == ":").end_byte
    def_line_start = source.rfind(b"\n", 0, fn.start_byte) + 1
    def_indent = source[def_line_start : fn.start_byte].decode()
    start = fn.start_byte if fn.parent is None or fn.parent.type != "decorated_definition" else fn.parent.start_byte
    start = source.rfind(b"\n", 0, start) + 1
    indent = _body_indent(source, kept, def_indent)
    head = source[start:head_end].decode() + "\n"
    before = source[:head_end].decode() + "\n" + indent
    after = source[fn.end_byte :].decode()
    after = after if after.startswith("\n") else "\n" + after
    chars = lambda b: len(source[:b].decode("utf-8", "replace"))  # noqa: E731
    replaced = (chars(head_end), chars(fn.end_byte))
    name = _name(fn)
    return FunctionSlot(name, head, indent, before + after, len(before), replaced, source.decode())


def _body_indent(source: bytes, kept: list[tree_sitter.Node], def_indent: str) -> str:
    if kept:
        line_start = source.rfind(b"\n", 0, kept[0].start_byte) + 1
        return source[line_start : kept[0].start_byte].decode()
    return def_indent + "    "
