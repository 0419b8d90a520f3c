"""Where a request points: a document's text and offset, its workspace folder, positions back.

The server's handlers and the generate command both locate requests this way.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types as lsp
from pygls.server import LanguageServer

from .service import document_path


def document_offset(server: LanguageServer, uri: str, position: lsp.Position) -> tuple[str, int] | None:
    """The document's text and the character offset of `position`, or None if either is unknown."""
    document = server.workspace.text_documents.get(uri)
    if document is None:
        return None
    lines = document.lines  # each with its line ending
    if not 0 <= position.line < max(len(lines), 1):
        return None
    line = lines[position.line] if lines else ""
    body = line.rstrip("\r\n")
    if position.character > len(body.encode("utf-16-le")) // 2:
        return None
    column = document.position_codec.position_from_client_units(lines, position).character if lines else 0
    return document.source, sum(len(l) for l in lines[: position.line]) + column


def workspace_roots(server: LanguageServer) -> tuple[str, ...]:
    """The editor's workspace folders as local paths (the root path if it sent no folders)."""
    roots = [document_path(f.uri) for f in server.workspace.folders.values()] or [server.workspace.root_path]
    return tuple(str(Path(r).resolve()) for r in roots if r and Path(r).is_dir())


def workspace_for(server: LanguageServer, uri: str) -> str | None:
    """The innermost workspace folder holding the document: the monitors analyse that project
    (when the option `guides.monitors` is off, the assistant's monitor config has none enabled)."""
    path = document_path(uri)
    if path is None:
        return None
    holding = [root for root in workspace_roots(server) if Path(path).resolve().is_relative_to(root)]
    return max(holding, key=len) if holding else None


def offset_position(text: str, offset: int) -> lsp.Position:
    """The LSP (UTF-16) position of character `offset`."""
    before = text[:offset]
    line = before.count("\n")
    column = before[before.rfind("\n") + 1 :]
    return lsp.Position(line=line, character=len(column.encode("utf-16-le")) // 2)


def position_after(start: lsp.Position, inserted: str) -> lsp.Position:
    """Where the cursor stands after `inserted` is typed at `start` (UTF-16 columns)."""
    if "\n" not in inserted:
        return lsp.Position(start.line, start.character + len(inserted.encode("utf-16-le")) // 2)
    end = offset_position(inserted, len(inserted))
    return lsp.Position(start.line + end.line, end.character)
