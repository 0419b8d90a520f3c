"""Starting the language servers of `registry.SERVERS` through multilspy, and noticing their exit.

jedi-language-server runs under `QuietJediServer` (multilspy's `JediServer`, told to skip the
work monitors do not read); every other server under the one `stdio_server.StdioServer`, as its
spec says. Each gets an `ExitAwareHandler` in place of multilspy's JSON-RPC handler, so that a
server that dies fails its pending requests at once instead of leaving them waiting forever.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from multilspy.language_server import LanguageServer
from multilspy.language_servers.jedi_language_server.jedi_server import JediServer
from multilspy.lsp_protocol_handler.lsp_types import InitializeParams
from multilspy.lsp_protocol_handler.server import LanguageServerHandler
from multilspy.multilspy_config import Language, MultilspyConfig
from multilspy.multilspy_logger import MultilspyLogger

from .registry import SERVERS
from .stdio_server import StdioServer


class QuietJediServer(JediServer):
    def _get_initialize_params(self, repository_absolute_path: str) -> InitializeParams:
        params = super()._get_initialize_params(repository_absolute_path)
        params["initializationOptions"] = SERVERS["jedi"].initialization_options
        return params


class ServerExited(RuntimeError):
    pass


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
    if server == "jedi":
        config = MultilspyConfig(code_language=Language.PYTHON, server_binary=binary)
        instance: LanguageServer = QuietJediServer(config, MultilspyLogger(), jedi_root(root))
    else:
        instance = StdioServer(SERVERS[server], binary, root)
    instance.server = ExitAwareHandler.replacing(instance.server)  # before start_server registers handlers
    return instance
