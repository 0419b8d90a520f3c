"""The static-analysis client for monitor-guided decoding: questions about the workspace (members,
signatures) asked of a language server (jedi-language-server or basedpyright for Python,
typescript-language-server, clangd, gopls; through multilspy).

Below the assistant: it imports nothing of guidecode's own above it. `session` runs the server
and answers queries; `replies` reads its answers; `registry` says how to run each server and
which languages it serves; `servers` and `stdio_server` start and watch the processes;
`installation` finds (or installs) their executables; `document_sync` mirrors the documents it is
shown.
"""

from .installation import ServerInstallError, install_server, locate
from .registry import SERVERS, ServerSpec, language_id, server_for
from .replies import Member, Parameter, Signature
from .session import AnalysisConfig, AnalysisSession

__all__ = [
    "SERVERS",
    "AnalysisConfig",
    "AnalysisSession",
    "Member",
    "Parameter",
    "ServerInstallError",
    "ServerSpec",
    "Signature",
    "install_server",
    "language_id",
    "locate",
    "server_for",
]
