"""`guidecode calibrate --ray`: the corpus's windows scored by Ray workers, each with the model
loaded once; the scores come back in the corpus's order, so the fit is the one a local run makes
(up to the last bits of the entropies, which depend on the threads a worker's matrix products use)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch

from .cluster import NAMESPACE, RayPlan, actor_names, connected, set_threads
from .corpus import Window
from .teacher_forcing import score_window

RETRIES = 2  # a window whose worker died is scored again by the restarted worker at most this often


class WindowScorer:
    """One Ray actor: the model, loaded once, scoring windows under teacher forcing."""

    def __init__(self, model: str, dtype: str, device: str, threads: int):
        from .loading import load_model

        set_threads(threads)
        self.loaded = load_model(model, dtype, device, False, None)

    def score(self, tokens: Sequence[int]) -> tuple[Any, Any]:
        """(entropies, greedy wrong) of one window, as numpy arrays [len(tokens) - 1]."""
        h, wrong = score_window(self.loaded.model, tokens)
        return h.numpy(), wrong.numpy()


def scores_on_ray(plan: RayPlan, model: str, dtype: str, device: str, windows: Sequence[Window]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Each window's (entropies, greedy wrong) in the corpus's order, scored on the plan's workers."""
    with connected(plan) as (ray, cpus):
        count = plan.count(cpus, len(windows))
        actor = ray.remote(num_cpus=plan.threads, max_restarts=-1, max_task_retries=RETRIES)(WindowScorer)
        workers = [actor.options(name=name, namespace=NAMESPACE).remote(model, dtype, device, plan.threads) for name in actor_names("scorer", count)]
        try:
            # Every window is queued at once, spread round-robin; Ray runs each worker's calls in order.
            pending = [workers[i % count].score.remote(list(window.tokens)) for i, window in enumerate(windows)]
            for ref in pending:
                h, wrong = ray.get(ref)
                yield torch.from_numpy(h.copy()), torch.from_numpy(wrong.copy())  # Ray hands back read-only arrays
        finally:
            for worker in workers:
                ray.kill(worker)
