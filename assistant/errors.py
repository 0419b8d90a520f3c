"""The one exception family that front ends turn into a one-line message for the user."""


class GuidecodeError(Exception):
    """An error the user can act on; its message says what was wrong and what to do."""
