"""Running untrusted candidate programs and their tests: a fresh process per run, isolated with
bubblewrap where it is installed, limited, killed on its deadline, returning a structured result."""

from .limits import Limits
from .result import Outcome, RunResult, Status, TestOutcome
from .run import Job, Sandbox
from .verdict import SandboxError

__all__ = ["Job", "Limits", "Outcome", "RunResult", "Sandbox", "SandboxError", "Status", "TestOutcome"]
