"""The language servers static analysis can drive, started through multilspy.

jedi-language-server runs under `QuietJediServer` (multilspy's `JediServer`, told to skip the
work monitors do not read), basedpyright under
`pyright.PyrightServer`; both get an `ExitAwareHandler` in place of multilspy's JSON-RPC
handler, so that a server that dies fails its pending requests at once instead of leaving them
waiting forever.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from multilspy.language_server import LanguageServer
from multilspy.language_servers.jedi_language_server.jedi_server import JediServer
from multilspy.lsp_protocol_handler.lsp_types import InitializeParams, LSPObject
from multilspy.lsp_protocol_handler.server import LanguageServerHandler
from multilspy.multilspy_config import Language, MultilspyConfig
from multilspy.multilspy_logger import MultilspyLogger

from .pyright import PyrightServer

# config name -> (executable, how a user gets it)
SERVERS = {
    "jedi": ("jedi-language-server", "pip install jedi-language-server"),
    "pyright": ("basedpyright-langserver", "pip install basedpyright"),
}

# Servers that read a request's `character` as a code-point column. jedi-language-server 0.41.3
# hands `position.character` to jedi unconverted, although pygls negotiates UTF-16 and applies
# didChange ranges in UTF-16; so for it request positions count code points, edits UTF-16 units.
CODE_POINT_COLUMNS = frozenset({"jedi"})


# jedi-language-server's options for a client that reads only completion labels and signature
# help. multilspy sends none of its own (its initialize parameters, shared with other languages,
# carry another server's options) and announces snippet support, so jedi-language-server infers
# every callable member's signature to write a snippet for it, and re-computes diagnostics on each
# didChange: most of a query's time on large files.
JEDI_OPTIONS: LSPObject = {
    "completion": {"disableSnippets": True, "resolveEagerly": False},
    "diagnostics": {"enable": False},
}


class QuietJediServer(JediServer):
    def _get_initialize_params(self, repository_absolute_path: str) -> InitializeParams:
        params = super()._get_initialize_params(repository_absolute_path)
        params["initializationOptions"] = JEDI_OPTIONS
        return params


class ServerExited(RuntimeError):
    pass


def find_server_binary(server: str) -> str | None:
    """The server's executable beside this interpreter (its venv's bin) first, then on PATH."""
    name = SERVERS[server][0]
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return shutil.which(name)


class ExitAwareHandler(LanguageServerHandler):
    """multilspy's JSON-RPC handler, made to notice a dead server: as shipped, a request to a server
    that has exited waits forever for its reply, and so does `shutdown()` when closing it."""

    @classmethod
    def replacing(cls, handler: LanguageServerHandler) -> ExitAwareHandler:
        return cls(handler.process_launch_info, logger=handler.logger, start_independent_lsp_process=handler.start_independent_lsp_process)

    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    async def send_request(self, method: str, params: dict | None = None):
        process = self.process
        if process is None or self.exited():
            raise ServerExited(f"the server has exited; {method} not sent")
        reply = asyncio.ensure_future(super().send_request(method, params))
        exited = asyncio.ensure_future(process.wait())
        try:
            await asyncio.wait({reply, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
            if not reply.done():
                reply.cancel()
        if reply.cancelled():
            raise ServerExited(f"the server exited with code {process.returncode} during {method}")
        return reply.result()

    async def shutdown(self) -> None:
        if not self.exited():
            await super().shutdown()


def jedi_root(root: str) -> str:
    """The folder jedi-language-server gets as its workspace for `root`: the folder holding the
    top-level package when `root` is itself a package folder (has `__init__.py`).

    Why: the server makes its jedi project with `smart_sys_path=True` (not an option), which puts
    the project folder on sys.path; a package folder there lets its modules shadow others (rich's
    `logging.py`, `json.py`) and left relative imports uninferred (`from . import get_console` in
    rich/jupyter.py: no completions after `console.`, so no constraint; 8 of 180 benchmark tasks
    as against 2 from the parent folder). Documents keep their own paths either way."""
    path = Path(root)
    while (path / "__init__.py").is_file() and path.parent != path:
        path = path.parent
    return str(path)


def create_server(server: str, binary: str, root: str) -> LanguageServer:
    config = MultilspyConfig(code_language=Language.PYTHON, server_binary=binary)
    kind = QuietJediServer if server == "jedi" else PyrightServer
    instance = kind(config, MultilspyLogger(), jedi_root(root) if server == "jedi" else root)
    instance.server = ExitAwareHandler.replacing(instance.server)  # before start_server registers handlers
    return instance
