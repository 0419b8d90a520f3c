"""basedpyright-langserver driven through multilspy's `LanguageServer`.

multilspy ships only a jedi client for Python, and its `JediServer` asserts jedi's exact
capabilities, so it cannot start pyright. This subclass starts `basedpyright-langserver --stdio`
with the same machinery (`LanguageServerHandler`, `self.server.send.*` / `notify.*`) and answers
the requests pyright sends to its client, which a jedi client never sees:

- `workspace/configuration`: pyright asks for its settings per section and waits for them before
  it analyses anything; unanswered, every completion stays empty.
- `client/registerCapability`, `window/workDoneProgress/create`, `workspace/diagnostic/refresh`:
  answered with null, as an editor that ignores them would.

The settings keep the server lean for member queries: no auto-import completions (they would flood
completions at a bare name with every importable symbol), diagnostics only for open files.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from multilspy.language_server import LanguageServer
from multilspy.lsp_protocol_handler.lsp_types import InitializeParams
from multilspy.lsp_protocol_handler.server import ProcessLaunchInfo
from multilspy.multilspy_config import MultilspyConfig
from multilspy.multilspy_logger import MultilspyLogger

ANALYSIS_SETTINGS = {
    "autoImportCompletions": False,
    "diagnosticMode": "openFilesOnly",
    "typeCheckingMode": "basic",
}


def section_settings(section: str | None) -> dict:
    """The value pyright gets for one `workspace/configuration` item."""
    whole = {"python": {"analysis": ANALYSIS_SETTINGS}, "basedpyright": {"analysis": ANALYSIS_SETTINGS}}
    if not section:
        return whole
    value: object = whole
    for part in section.split("."):
        value = value.get(part, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, dict) else {}


def initialize_params(root: str) -> InitializeParams:
    uri = pathlib.Path(root).as_uri()
    return {
        "processId": os.getpid(),
        "clientInfo": {"name": "guidecode-analysis"},
        "rootPath": root,
        "rootUri": uri,
        "workspaceFolders": [{"uri": uri, "name": os.path.basename(root)}],
        "capabilities": {
            "workspace": {"configuration": True, "workspaceFolders": True},
            "textDocument": {
                "synchronization": {"didSave": False},
                "completion": {"completionItem": {"snippetSupport": False}, "contextSupport": True},
                "signatureHelp": {
                    "signatureInformation": {
                        "parameterInformation": {"labelOffsetSupport": True},
                        "activeParameterSupport": True,
                    },
                    "contextSupport": True,
                },
            },
        },
    }


class PyrightServer(LanguageServer):
    """`basedpyright-langserver --stdio` over one workspace root; `binary` is the resolved path."""

    def __init__(self, config: MultilspyConfig, logger: MultilspyLogger, repository_root_path: str):
        binary = config.server_binary or "basedpyright-langserver"
        launch = ProcessLaunchInfo(cmd=[binary, "--stdio"], cwd=repository_root_path)
        super().__init__(config, logger, repository_root_path, launch, "python")

    def _register_client_handlers(self) -> None:
        async def configuration(params):
            return [section_settings(item.get("section")) for item in (params or {}).get("items", [])]

        async def null(params):
            return None

        self.server.on_request("workspace/configuration", configuration)
        for method in ("client/registerCapability", "client/unregisterCapability", "window/workDoneProgress/create", "workspace/diagnostic/refresh"):
            self.server.on_request(method, null)
        for method in ("window/logMessage", "$/progress", "textDocument/publishDiagnostics", "telemetry/event"):
            self.server.on_notification(method, null)

    @asynccontextmanager
    async def start_server(self) -> AsyncIterator[PyrightServer]:
        self._register_client_handlers()
        async with super().start_server():
            await self.server.start()
            reply = await self.server.send.initialize(initialize_params(self.repository_root_path))
            assert "completionProvider" in reply["capabilities"], reply["capabilities"]
            self.server.notify.initialized({})
            self.server.notify.workspace_did_change_configuration({"settings": section_settings(None)})
            self.completions_available.set()
            try:
                yield self
            finally:
                await self.server.shutdown()
                await self.server.stop()
