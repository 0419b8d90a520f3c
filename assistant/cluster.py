"""A Ray cluster to spread work over (`--ray auto|ADDRESS`): the plan of workers, and the connection.

`auto` starts a local cluster sized to this machine and stops it when the work is done; an address
joins a running cluster (`ray start --head`, docs/evaluation.md). A process already connected to
Ray (a test's cluster, a notebook's) is used as it is. Ray is an optional dependency: asking for it
without it installed says how to install it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import GuidecodeError

NAMESPACE = "guidecode"  # of the named actors, so a test or a user can find a worker


@dataclass(frozen=True)
class RayPlan:
    address: str  # "auto": a local cluster started here; else a running cluster's address
    workers: int | None = None  # None: as many as the cluster's CPUs allow, at `threads` each
    threads: int = 1  # CPUs (and torch threads) per worker

    def count(self, cpus: int, jobs: int) -> int:
        """How many workers for `jobs` pieces of work on a cluster of `cpus` CPUs."""
        return max(1, min(self.workers or cpus // self.threads, jobs))


def ray_module() -> Any:
    try:
        import ray
    except ImportError:
        raise GuidecodeError("--ray needs Ray: pip install 'guidecode[ray]' (or pip install 'ray>=2.60,<3')") from None
    return ray


@contextmanager
def connected(plan: RayPlan) -> Iterator[tuple[Any, int]]:
    """(the ray module, the CPUs the cluster offers), connected to the plan's cluster for the block."""
    ray = ray_module()
    if ray.is_initialized():
        yield ray, int(ray.cluster_resources().get("CPU", 1))
        return
    options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False, "namespace": NAMESPACE}
    try:
        if plan.address == "auto":
            ray.init(num_cpus=os.cpu_count() or 1, **options)
        else:
            ray.init(address=plan.address, **options)
    except (ConnectionError, ValueError, RuntimeError) as error:
        raise GuidecodeError(f"could not join the Ray cluster at {plan.address}: {error}; start one with `ray start --head`, or use --ray auto") from None
    try:
        yield ray, int(ray.cluster_resources().get("CPU", 1))
    finally:
        ray.shutdown()


def actor_names(kind: str, count: int) -> list[str]:
    """Names for `count` actors of one piece of work: unique in the cluster (another run's actors
    may still be shutting down), ending in `<kind>-<i>`."""
    run = uuid.uuid4().hex[:8]
    return [f"{run}-{kind}-{i}" for i in range(count)]


def set_threads(threads: int) -> None:
    """In a worker: torch uses the CPUs Ray reserved for it."""
    import torch

    torch.set_num_threads(threads)
