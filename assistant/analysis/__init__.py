"""The static-analysis client for monitor-guided decoding: questions about the workspace (members,
signatures) asked of a language server (jedi-language-server or basedpyright, through multilspy).

Below the assistant: it imports nothing of guidecode's own above it. `session` runs the server
and answers queries; `replies` reads its answers; `servers` starts and watches the processes;
`document_sync` mirrors the documents it is shown.
"""

from .replies import Member, Parameter, Signature
from .session import AnalysisConfig, AnalysisSession

__all__ = ["AnalysisConfig", "AnalysisSession", "Member", "Parameter", "Signature"]
