"""Language-server replies turned into what monitors reason about: member names and signatures.

Every server is read the same way, with what they actually send:

- completion items: jedi sends `label` "area" with `insertText` "area()$0" (a snippet) and labels
  "radius=" for keyword arguments; basedpyright sends only `label` (and `kind`, `sortText`, `data`);
  clangd decorates its labels (" size() const", "•size()" when it would insert a header) and puts
  the bare name in `filterText` and `textEdit.newText`; typescript-language-server edits the `.`
  too (filterText and newText ".name"; "?.name" after a possibly-undefined object; `["odd-name"]`
  for a name that is no identifier) and labels an optional member "name?". So the name is the
  first of filterText / textEdit.newText / insertText / label that is a whole identifier once
  blanks, a bullet and a leading member access ("?.", ".", "->", "::") are dropped; failing that,
  the label's leading identifier when a decoration follows it ("(", "?", ":", "<", a blank, a
  final "="): "radius=" gives "radius", "odd-name" nothing. A member is a plain identifier or is
  left out.
- signature labels: jedi writes "def f(a, b=1, /, c=2, *, d, **kw)" with string parameter labels
  that omit the "/" and "*" markers; basedpyright writes "(a: Unknown, b: int = 1, /, ...) -> None"
  with [start, end] offsets, one per parameter *and* per marker, and shows untyped `*args, **kw`
  as a bare "...". The parameter list is therefore parsed from the signature label itself, which
  both servers write in full; the per-parameter labels are the fallback when it has no "(...)".
- definition replies: a Location, a list of them, or a list of LocationLinks (whose
  targetSelectionRange is the name itself, targetRange the whole definition); jedi sends Locations
  whose range is the name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse
from urllib.request import url2pathname

IDENTIFIER = re.compile(r"[^\W\d]\w*")
ACCESS = re.compile(r"(?:\?\.|\.|->|::)")  # a member access an insert text may start with
DECORATION = re.compile(r"[(?:<\s]|=?$")  # what may follow a name in a label ("radius=": a keyword argument)
BRACKETS = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True)
class Member:
    name: str  # the identifier as it would be written
    kind: int | None  # LSP CompletionItemKind


@dataclass(frozen=True)
class Location:
    path: str  # a local file
    line: int  # 0-based
    character: int  # in the server's column unit (see registry.ServerSpec.utf16_columns)


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str  # positional_only | positional_or_keyword | var_positional | keyword_only | var_keyword
    has_default: bool


@dataclass(frozen=True)
class Signature:
    label: str
    parameters: tuple[Parameter, ...]


def members_from_reply(reply, guess_kinds: frozenset[int] = frozenset()) -> tuple[Member, ...]:
    """Members from a completion reply (a list of items or a CompletionList, complete or not),
    in the server's order, first occurrence of each name kept; items with no identifier, or of a
    kind the server uses for guesses, dropped. Keywords are kept (after `obj.` servers send none;
    at a bare name they are valid words)."""
    items = reply.get("items", []) if isinstance(reply, dict) else reply or []
    members: dict[str, Member] = {}
    for item in items:
        if item.get("kind") in guess_kinds:
            continue
        name = item_name(item)
        if name is not None and name not in members:
            members[name] = Member(name, item.get("kind"))
    return tuple(members.values())


def item_name(item: dict) -> str | None:
    edit = item.get("textEdit") or {}
    for text in (item.get("filterText"), edit.get("newText"), item.get("insertText"), item.get("label")):
        if isinstance(text, str) and IDENTIFIER.fullmatch(name := _bare(text)):
            return name
    label = _bare(item["label"]) if isinstance(item.get("label"), str) else ""
    match = IDENTIFIER.match(label)
    return match.group() if match and DECORATION.match(label, match.end()) else None


def _bare(text: str) -> str:
    text = text.strip().lstrip("•").lstrip()
    access = ACCESS.match(text)
    return text[access.end() :] if access else text


def signature_from_reply(reply, style: str = "python") -> Signature | None:
    """The active signature (or the first) of a signatureHelp reply; None when there is none.
    `style`: how its parameters are written, "python" or "c" (C, C++, Go, TypeScript: positional
    only, `...` makes them variadic)."""
    signatures = (reply or {}).get("signatures") or []
    if not signatures:
        return None
    active = reply.get("activeSignature") or 0
    chosen = signatures[active] if 0 <= active < len(signatures) else signatures[0]
    label = chosen.get("label", "")
    pieces = parameter_list(label)
    if pieces is None:  # no "(...)" in the label: fall back to the per-parameter labels
        pieces = [_parameter_label(label, p.get("label")) for p in chosen.get("parameters") or []]
    return Signature(label, parse_parameters(pieces) if style == "python" else positional_parameters(pieces))


def positional_parameters(pieces: list[str]) -> tuple[Parameter, ...]:
    """Parameters of a language without keyword arguments, from pieces like "int w", "w: number",
    "h?: number", "xs ...int", "...xs: number[]" or C's "...": each takes one positional argument,
    and one with `...` any number of them."""
    return tuple(Parameter(piece, "var_positional" if "..." in piece else "positional_only", False) for piece in pieces)


def _parameter_label(signature_label: str, label) -> str:
    if isinstance(label, list) and len(label) == 2:  # [start, end) in UTF-16 units of the label
        encoded = signature_label.encode("utf-16-le")
        return encoded[2 * label[0] : 2 * label[1]].decode("utf-16-le", errors="replace")
    return label if isinstance(label, str) else ""


def parameter_list(label: str) -> list[str] | None:
    """The top-level comma-separated pieces between the first "(" and its matching ")"."""
    start = label.find("(")
    if start < 0:
        return None
    inner = label[start + 1 :]
    cuts = [-1]
    for i, ch, depth in _outside_quotes(inner):
        if ch == "," and depth == 0:
            cuts.append(i)
        elif ch == ")" and depth == -1:  # the parenthesis that closes the parameter list
            cuts.append(i)
            pieces = [inner[a + 1 : b].strip() for a, b in zip(cuts, cuts[1:])]
            return [p for p in pieces if p]
    return None  # unbalanced: the label was cut short


def _outside_quotes(text: str):
    """(index, char, depth) for each character outside string literals, depth being the number of
    brackets open around it (a bracket counts as outside its own pair; an unmatched closer is -1),
    so a "," or "=" inside a default such as ")" or dict(a=1) is never taken for a separator."""
    depth, quote, escaped = 0, None, False
    for i, ch in enumerate(text):
        if quote:
            escaped, quote = (not escaped and ch == "\\"), (None if ch == quote and not escaped else quote)
            continue
        if ch in "'\"":
            quote = ch
            continue
        if ch in BRACKETS.values():
            depth -= 1
        yield i, ch, depth
        if ch in BRACKETS:
            depth += 1


def parse_parameters(pieces: list[str]) -> tuple[Parameter, ...]:
    """Parameters with their kinds, from pieces like "x: int = 1", "*args", "**kw", "/", "*"."""
    params: list[Parameter] = []
    keyword_only = False
    for piece in pieces:
        if piece == "/":  # everything before it is positional-only
            params = [Parameter(p.name, "positional_only", p.has_default) for p in params]
        elif piece == "*":
            keyword_only = True
        elif piece == "...":  # basedpyright's gradual `*args, **kwargs`: any arguments at all
            params += [Parameter("...", "var_positional", False), Parameter("...", "var_keyword", False)]
            keyword_only = True
        elif piece.startswith("**"):
            params.append(Parameter(_name(piece[2:]), "var_keyword", False))
        elif piece.startswith("*"):
            params.append(Parameter(_name(piece[1:]), "var_positional", False))
            keyword_only = True
        elif name := _name(piece):
            kind = "keyword_only" if keyword_only else "positional_or_keyword"
            params.append(Parameter(name, kind, _has_default(piece)))
    return tuple(params)


def _name(piece: str) -> str:
    match = IDENTIFIER.match(piece.strip())
    return match.group() if match else ""


def _has_default(piece: str) -> bool:
    """An "=" outside brackets and quotes: "x: Literal['=']" has none, "y: int = 1" has one."""
    return any(ch == "=" and depth == 0 for _, ch, depth in _outside_quotes(piece))


def locations_from_reply(reply) -> tuple[Location, ...]:
    """The local files' places a definition reply names, in its order; others (an `untitled:`
    document, a bad item) left out."""
    items = reply if isinstance(reply, list) else [reply] if isinstance(reply, dict) else []
    locations = []
    for item in items:
        uri = item.get("targetUri", item.get("uri")) if isinstance(item, dict) else None
        span = item.get("targetSelectionRange", item.get("range")) if isinstance(item, dict) else None
        start = span.get("start") if isinstance(span, dict) else None
        if isinstance(uri, str) and uri.startswith("file:") and isinstance(start, dict):
            path = url2pathname(urlparse(uri).path)  # unquoted too
            locations.append(Location(path, int(start.get("line", 0)), int(start.get("character", 0))))
    return tuple(locations)
