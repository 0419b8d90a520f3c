"""The language server editors talk to (pygls 1.x; LSP 3.18 inline completion).

Handlers are thin: find the document, convert the position, ask the `CompletionService`, convert
the answer. Anything an editor may send — unknown documents, positions past the end, requests
after shutdown — gets an empty result or a JSON-RPC error, never a dead server.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.server import LanguageServer

from .documents import document_offset, position_after, workspace_for, workspace_roots
from .generate import GENERATE, generate_command
from .options import ServerOptions, parse_options
from .service import Answer, CompletionService

log = logging.getLogger("guidecode.lsp")

STATS = "guidecode.stats"
ACCEPTED = "guidecode.accepted"  # an inline item's command: the client ran it after inserting the item
STATUS = "guidecode/status"
REFRESH = "guidecode/inlineCompletionRefresh"  # LSP 3.18 has no refresh for inline completions


class GuidecodeProtocol(LanguageServerProtocol):
    """pygls 1.x with what it lacks: the inline-completion capability, and answers after shutdown."""

    @lsp_method(lsp.INITIALIZE)
    def lsp_initialize(self, params: lsp.InitializeParams) -> lsp.InitializeResult:
        result = super().lsp_initialize(params)
        result.capabilities.inline_completion_provider = lsp.InlineCompletionOptions()
        self._server.configure(params.initialization_options)  # type: ignore[attr-defined]
        return result

    def _deserialize_message(self, data):
        if data.get("method") == lsp.TEXT_DOCUMENT_INLINE_COMPLETION:
            context = (data.get("params") or {}).get("context") or {}
            # LSP 3.18 numbers Invoked=1, Automatic=2; lsprotocol 2023 has Invoked=0, Automatic=1.
            if context.get("triggerKind") == 2:
                context["triggerKind"] = lsp.InlineCompletionTriggerKind.Automatic.value
        try:
            return super()._deserialize_message(data)
        except JsonRpcException as error:
            if "id" not in data or "method" not in data:
                raise
            # pygls would only log a request it cannot parse; the client deserves an answer.
            self._send_response(data["id"], None, error.to_response_error())
            return super()._deserialize_message({"jsonrpc": "2.0", "method": "$/guidecode/unparsable"})

    def _procedure_handler(self, message):
        # pygls drops requests after shutdown without answering, which leaves a client waiting.
        if self._shutdown and getattr(message, "method", "") != lsp.EXIT and hasattr(message, "id") and hasattr(message, "method"):
            error = JsonRpcInvalidRequest("the guidecode server has shut down; start a new one")
            self._send_response(message.id, None, error.to_response_error())
            return
        super()._procedure_handler(message)


class GuidecodeServer(LanguageServer):
    def __init__(self, options: ServerOptions = ServerOptions(), loader=None):
        super().__init__("guidecode", "0.1.0", protocol_cls=GuidecodeProtocol, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental)
        self.base_options = options
        kwargs = {"loader": loader} if loader else {}
        self.service = CompletionService(options, self._send_status, self._warn, refresh=self._send_refresh, **kwargs)

    def configure(self, raw: Any) -> None:
        options, problems = parse_options(raw, self.base_options)
        for problem in problems:
            self._warn(problem)
        self.service.reconfigure(options)

    def _warn(self, message: str) -> None:
        log.warning(message)
        try:
            self.show_message(message, lsp.MessageType.Warning)
        except Exception:  # no client connected (yet): the log keeps it
            pass

    def _send_refresh(self, uri: str) -> None:
        try:
            self.send_notification(REFRESH, {"uri": uri})
        except Exception:  # the transport is gone (shutdown); a refresh is best effort
            pass

    def _send_status(self, state: str, model: str, last_ms: float | None) -> None:
        try:
            self.send_notification(STATUS, {"state": state, "model": model, "lastLatencyMs": None if last_ms is None else round(last_ms, 1)})
        except Exception:  # the transport is gone (shutdown); status is best effort
            pass


def build_server(options: ServerOptions = ServerOptions(), loader=None) -> GuidecodeServer:
    server = GuidecodeServer(options, loader)

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: GuidecodeServer, params: lsp.InitializedParams) -> None:
        ls.service.start_loading(workspace_roots(ls))  # load while the user reads the file

    @server.feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: GuidecodeServer, params: lsp.DidChangeConfigurationParams) -> None:
        settings = params.settings if isinstance(params.settings, dict) else {}
        ls.configure(settings.get("guidecode", settings))

    @server.feature(lsp.SHUTDOWN)
    def shutdown(ls: GuidecodeServer, params: None) -> None:
        ls.service.shutdown()  # stop any generation in flight; no new work is accepted after this

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: GuidecodeServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.service.forget(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: GuidecodeServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.service.changed(params.text_document.uri, params.text_document.text, typed=False)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: GuidecodeServer, params: lsp.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.service.changed(uri, ls.workspace.get_text_document(uri).source)

    @server.feature(lsp.TEXT_DOCUMENT_INLINE_COMPLETION)
    async def inline_completion(ls: GuidecodeServer, params: lsp.InlineCompletionParams) -> lsp.InlineCompletionList | None:
        uri, at = params.text_document.uri, params.position
        answer = await _complete(ls, uri, at)
        if not answer or not answer.text:
            return lsp.InlineCompletionList(items=[])
        end = position_after(at, answer.text)
        accepted = lsp.Command("guidecode: next suggestion", ACCEPTED, [uri, end.line, end.character])
        return lsp.InlineCompletionList(items=[lsp.InlineCompletionItem(insert_text=answer.text, range=lsp.Range(at, at), command=accepted)])

    @server.command(ACCEPTED)
    async def accepted(ls: GuidecodeServer, args: list | None = None) -> None:
        """The user took a suggestion: start the one after it (lsp/service.py `lookahead`)."""
        if not isinstance(args, list) or len(args) != 3 or not isinstance(args[0], str):
            raise JsonRpcInvalidParams(f"{ACCEPTED} takes [uri, line, character], got {args!r}")
        uri, line, character = args
        located = document_offset(ls, uri, lsp.Position(line, character))
        if located is not None:
            text, offset = located
            await ls.service.lookahead(uri, text, offset, workspace_for(ls, uri), _language(ls, uri))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", "(", " "]))
    async def completion(ls: GuidecodeServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        # A completion list has no refresh: its item waits for the whole completion.
        answer = await _complete(ls, params.text_document.uri, params.position, partial=False)
        if not answer or not answer.text:
            return lsp.CompletionList(is_incomplete=True, items=[])
        item = lsp.CompletionItem(
            label=answer.text.split("\n", 1)[0].strip() or answer.text.strip(),
            kind=lsp.CompletionItemKind.Snippet,
            detail="guidecode",
            documentation=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=f"```{_language_id(ls, params.text_document.uri)}\n{answer.text}\n```"),
            text_edit=lsp.TextEdit(range=lsp.Range(params.position, params.position), new_text=answer.text),
            insert_text_format=lsp.InsertTextFormat.PlainText,
            sort_text="0",
            filter_text=answer.text,
        )
        # is_incomplete: the next keystroke must ask again, a completion depends on every character.
        return lsp.CompletionList(is_incomplete=True, items=[item])

    @server.command(STATS)
    def stats(ls: GuidecodeServer, args: list | None = None) -> dict:
        return {**ls.service.stats.snapshot(), "running": ls.service.running()}

    @server.command(GENERATE)
    async def generate(ls: GuidecodeServer, args: list) -> dict:
        return await generate_command(ls, args)

    return server


async def _complete(ls: GuidecodeServer, uri: str, position: lsp.Position, partial: bool = True) -> Answer | None:
    located = document_offset(ls, uri, position)
    if located is None:
        return None
    text, offset = located
    return await ls.service.complete(uri, text, offset, workspace_for(ls, uri), _language(ls, uri), partial)


def _language(ls: GuidecodeServer, uri: str) -> str | None:
    return ls.workspace.get_text_document(uri).language_id or None  # an untitled buffer has no file name to tell


def _language_id(ls: GuidecodeServer, uri: str) -> str:
    """The document's language as the editor named it (for the fence of a completion's preview)."""
    return ls.workspace.get_text_document(uri).language_id or "plaintext"
