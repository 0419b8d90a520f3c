"""Any stdio language server (basedpyright, typescript-language-server, clangd, ...) driven through
multilspy's `LanguageServer`, as its `ServerSpec` says.

multilspy ships one client class per server, each asserting that server's exact capabilities and
sending its own settings; this one class starts `spec.executable spec.args...` with the same
machinery (`LanguageServerHandler`, `self.server.send.*` / `notify.*`), sends a plain
initialize (no snippets, context support) with the spec's initialization
options, and answers the requests servers send to their client, which multilspy would refuse:

- `workspace/configuration`: the spec's settings, per section. pyright waits for them before it
  analyses anything (unanswered, every completion stays empty); typescript-language-server asks
  for "formattingOptions", gopls for "gopls": a section the spec lacks gets {}.
- `workspace/workspaceFolders`: the one root.
- `client/registerCapability`, `window/workDoneProgress/create`, `workspace/diagnostic/refresh`,
  `window/showMessageRequest`: answered with null, as an editor that ignores them would.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from multilspy.language_server import LanguageServer
from multilspy.lsp_protocol_handler.lsp_types import InitializeParams, LSPAny, LSPObject
from multilspy.lsp_protocol_handler.server import ProcessLaunchInfo
from multilspy.multilspy_config import Language, MultilspyConfig
from multilspy.multilspy_logger import MultilspyLogger

from .registry import ServerSpec

NULL_REQUESTS = (
    "client/registerCapability",
    "client/unregisterCapability",
    "window/workDoneProgress/create",
    "window/showMessageRequest",
    "workspace/diagnostic/refresh",
    "workspace/semanticTokens/refresh",
    "workspace/inlayHint/refresh",
    "workspace/codeLens/refresh",
)
IGNORED_NOTIFICATIONS = ("window/logMessage", "window/showMessage", "$/progress", "textDocument/publishDiagnostics", "telemetry/event")


def section_settings(settings: LSPObject, section: str | None) -> LSPObject:
    """The value a server gets for one `workspace/configuration` item: the whole settings for
    no section, else the value at the dotted path ({} where there is none)."""
    if not section:
        return settings
    value: LSPAny = settings
    for part in section.split("."):
        value = value.get(part, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, dict) else {}


def initialize_params(root: str, options: LSPObject | None) -> InitializeParams:
    uri = pathlib.Path(root).as_uri()
    params: InitializeParams = {
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
    if options is not None:
        params["initializationOptions"] = options
    return params


class StdioServer(LanguageServer):
    """`binary spec.args...` over one workspace root; `binary` is the resolved executable."""

    def __init__(self, spec: ServerSpec, binary: str, repository_root_path: str, logger: MultilspyLogger | None = None):
        self.spec = spec
        launch = ProcessLaunchInfo(cmd=[binary, *spec.args], env=dict(spec.env), cwd=repository_root_path)
        # the config's language matters to multilspy only in LanguageServer.create, not used here
        config = MultilspyConfig(code_language=Language.PYTHON, server_binary=binary)
        super().__init__(config, logger or MultilspyLogger(), repository_root_path, launch, spec.language_ids[0])

    def _register_client_handlers(self) -> None:
        uri = pathlib.Path(self.repository_root_path).as_uri()

        async def configuration(params):
            return [section_settings(self.spec.settings, item.get("section")) for item in (params or {}).get("items", [])]

        async def folders(params):
            return [{"uri": uri, "name": os.path.basename(self.repository_root_path)}]

        async def null(params):
            return None

        self.server.on_request("workspace/configuration", configuration)
        self.server.on_request("workspace/workspaceFolders", folders)
        for method in NULL_REQUESTS:
            self.server.on_request(method, null)
        for method in IGNORED_NOTIFICATIONS:
            self.server.on_notification(method, null)

    @asynccontextmanager
    async def start_server(self) -> AsyncIterator[StdioServer]:
        self._register_client_handlers()
        async with super().start_server():
            await self.server.start()
            reply = await self.server.send.initialize(initialize_params(self.repository_root_path, self.spec.initialization_options))
            assert "completionProvider" in reply["capabilities"], reply["capabilities"]
            self.server.notify.initialized({})
            if self.spec.settings:
                self.server.notify.workspace_did_change_configuration({"settings": section_settings(self.spec.settings, None)})
            self.completions_available.set()
            try:
                yield self
            finally:
                await self.server.shutdown()
                await self.server.stop()
