"""A prompt without its examples: USCD's "lame" prompt (decoders/contrast.py).

Input-output examples live in docstrings. Inside every docstring (found with tree-sitter: a
string that is the first statement of a module, class or function), these lines go:
- a doctest (`>>> call`) and the output lines under it;
- an example heading ("Example:", "For example:", "Examples", "Example 1:");
- labelled examples ("Input: …", "Output: …", "Explanation: …");
- a call shown with its result (`f(x) == y`, `f(x) => y`, `f(x) ➞ y`, `f(x) should return y`).
Everything else of the document, the rest of the docstring included, is kept as it was.
"""

from __future__ import annotations

import re

from .languages.grammars import python_parser

_HEADING = re.compile(r"^\s*(for\s+)?(an?\s+)?examples?\b[^:]{0,12}:?\s*$", re.IGNORECASE)
_LABELLED = re.compile(r"^\s*(input|output|explanation)\s*:", re.IGNORECASE)
_CALL_WITH_RESULT = re.compile(r"\w\(.*\)\s*(==>|=>|==|➞|->|→|should\s+return|returns?)\s*\S", re.IGNORECASE)


def docstring_spans(text: str) -> list[tuple[int, int]]:
    """Character spans of the docstrings of `text`'s module, classes and functions."""
    source = text.encode("utf-8")
    spans = []
    stack = [python_parser().parse(source).root_node]
    while stack:
        node = stack.pop()
        body = node if node.type == "module" else node.child_by_field_name("body") if node.type in ("function_definition", "class_definition") else None
        if body is not None and body.named_child_count:
            first = body.named_children[0]
            if first.type == "expression_statement" and first.named_child_count == 1 and first.named_children[0].type == "string":
                string = first.named_children[0]
                spans.append((len(source[: string.start_byte].decode("utf-8")), len(source[: string.end_byte].decode("utf-8"))))
        stack.extend(node.named_children)
    return sorted(spans)


def _is_example(line: str) -> bool:
    return bool(_HEADING.match(line) or _LABELLED.match(line) or _CALL_WITH_RESULT.search(line))


def _strip_docstring(docstring: str) -> str:
    lines = docstring.split("\n")
    kept, in_doctest = [], False
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(">>>"):
            in_doctest = True
            continue
        if in_doctest and stripped and i < len(lines) - 1 and not stripped.startswith(('"""', "'''")):
            continue  # the doctest's expected output
        in_doctest = False
        if i not in (0, len(lines) - 1) and _is_example(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def without_examples(text: str) -> str:
    """`text` with the input-output examples of its docstrings removed."""
    out, last = [], 0
    for start, end in docstring_spans(text):
        out += [text[last:start], _strip_docstring(text[start:end])]
        last = end
    return "".join(out) + text[last:]
