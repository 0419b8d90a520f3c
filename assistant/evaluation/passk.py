"""The unbiased pass@k estimator of the Codex paper (Chen et al., 2021).

With n samples of which c pass, pass@k = 1 - C(n-c, k) / C(n, k): the chance that k samples
drawn without replacement from the n include a passing one. The binomials overflow floats for
n in the hundreds, so it is computed as the product 1 - prod_{i=n-c+1}^{n} (1 - k/i).
"""

from __future__ import annotations

from collections.abc import Iterable


def pass_at_k(n: int, c: int, k: int) -> float:
    if not 0 <= c <= n:
        raise ValueError(f"passing samples must be between 0 and n={n}, got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of samples n={n}, got {k}")
    if n - c < k:  # every draw of k holds a passing sample
        return 1.0
    failing_only = 1.0
    for i in range(n - c + 1, n + 1):
        failing_only *= 1.0 - k / i
    return 1.0 - failing_only


def mean_pass_at_k(counts: Iterable[tuple[int, int]], k: int) -> float:
    """The mean over tasks of pass@k, from each task's (samples, passed)."""
    values = [pass_at_k(n, c, k) for n, c in counts]
    if not values:
        raise ValueError("no tasks to average over")
    return sum(values) / len(values)
