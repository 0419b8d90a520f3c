"""A real `guidecode serve` subprocess and a real pygls client talking JSON-RPC to it."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import BaseLanguageClient

TIMEOUT = 120  # seconds for any one exchange; a hang fails the test instead of blocking CI


# Every server these tests start runs in this dtype, `auto`'s on a CPU, pinned: a model's text
# depends on the dtype it runs in (in fp32 the tiny random model writes a newline first at these
# tests' cursor, an empty line completion), so a later change of the default must not move them.
TEST_DTYPE = "bfloat16"


@dataclass
class Session:
    client: BaseLanguageClient
    messages: list = field(default_factory=list)  # window/showMessage
    statuses: list = field(default_factory=list)  # guidecode/status
    edits: list = field(default_factory=list)  # workspace/applyEdit
    progress: list = field(default_factory=list)  # $/progress values
    progress_tokens: list = field(default_factory=list)  # their tokens, in the same order
    refreshes: list = field(default_factory=list)  # guidecode/inlineCompletionRefresh

    async def call(self, awaitable):
        return await asyncio.wait_for(awaitable, TIMEOUT)

    def open(self, uri: str, text: str, version: int = 1, language: str = "python") -> None:
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, language, version, text)))

    async def inline(self, uri: str, line: int, character: int) -> list[lsp.InlineCompletionItem]:
        params = lsp.InlineCompletionParams(
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Automatic),
            text_document=lsp.TextDocumentIdentifier(uri),
            position=lsp.Position(line, character),
        )
        result = await self.call(self.client.text_document_inline_completion_async(params))
        return result.items if hasattr(result, "items") else list(result or [])

    async def inline_whole(self, uri: str, line: int, character: int) -> list[lsp.InlineCompletionItem]:
        """The inline completion once its generation ended (a first answer may be partial)."""
        items = await self.inline(uri, line, character)
        for _ in range(TIMEOUT * 10):
            if (await self.stats())["running"] == 0:
                return await self.inline(uri, line, character)
            await asyncio.sleep(0.1)
        return items

    async def stats(self) -> dict:
        return await self.call(self.client.workspace_execute_command_async(lsp.ExecuteCommandParams(command="guidecode.stats", arguments=[])))


async def start_session(model: str, options: dict | None = None, work_done_progress: bool = True, workspace: str | None = None) -> Session:
    client = BaseLanguageClient("guidecode-tests", "0.1")
    session = Session(client)

    @client.feature(lsp.WINDOW_SHOW_MESSAGE)
    def show_message(params):
        session.messages.append(params.message)

    @client.feature("guidecode/status")
    def status(params):
        session.statuses.append(params)

    @client.feature("guidecode/inlineCompletionRefresh")
    def refresh(params):
        session.refreshes.append(params)

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def apply_edit(params):
        session.edits.append(params.edit)
        return lsp.ApplyWorkspaceEditResult(applied=True)

    @client.feature(lsp.WINDOW_WORK_DONE_PROGRESS_CREATE)
    def create_progress(params):
        return None

    @client.feature(lsp.PROGRESS)
    def progress(params):
        session.progress.append(params.value)
        session.progress_tokens.append(params.token)

    await client.start_io(sys.executable, "-m", "assistant.cli", "serve", "--model", str(model), "--dtype", TEST_DTYPE)
    capabilities = lsp.ClientCapabilities(window=lsp.WindowClientCapabilities(work_done_progress=work_done_progress))
    folders = [lsp.WorkspaceFolder(uri=Path(workspace).as_uri(), name=Path(workspace).name)] if workspace else None
    init = lsp.InitializeParams(capabilities=capabilities, initialization_options={"debounceMs": 0, **(options or {})}, workspace_folders=folders)
    session.initialize_result = await session.call(client.initialize_async(init))
    client.initialized(lsp.InitializedParams())
    return session


async def stop_session(session: Session) -> None:
    try:
        await session.call(session.client.shutdown_async(None))
        session.client.exit(None)
    finally:
        await session.client.stop()
