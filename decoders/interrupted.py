"""The exception a forward pass raises when its caller's cancel flag is set (decoders/engine.py
checks the flag between decoder layers; decoders/lean.py between its own)."""


class Interrupted(Exception):
    """The cancel flag was set during a forward pass."""
