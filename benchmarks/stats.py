"""Significance of a difference between two methods run on the same tasks."""

from __future__ import annotations

from math import comb


def sign_test(a: int, b: int) -> float:
    """Two-sided exact sign test on a and b discordant outcomes (tasks only one method got right)."""
    n, k = a + b, min(a, b)
    return min(1.0, 2 * sum(comb(n, i) for i in range(k + 1)) / 2**n) if n else 1.0
