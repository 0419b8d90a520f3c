"""The `guidecode` command line, above the assistant: `main` parses and runs one command
(`main.py`); `args.py` holds the argument types and reads the user's files; each command family
with its own options has a module (`bench_command`, `eval_command`, `sandbox_command`,
`search_command`). `python -m assistant.cli` runs it too."""

from .main import main

__all__ = ["main"]
