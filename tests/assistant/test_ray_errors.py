"""What `guidecode eval --ray` says when a task comes back from its worker with an error: Ray wraps
an error raised in the worker's code (a RayTaskError carrying it as `cause`) and does not retry it,
so only a worker that died is reported as tried again."""

from __future__ import annotations

import traceback

import pytest

from assistant.errors import GuidecodeError
from assistant.evaluation.distributed import RETRIES, _failure
from sandbox import SandboxError

exceptions = pytest.importorskip("ray.exceptions")


def wrapped(cause: Exception):
    """The error `ray.get` raises for a task whose worker raised `cause` (with its traceback)."""
    try:
        raise cause
    except Exception:
        return exceptions.RayTaskError("Worker.solve", traceback.format_exc(), cause)


def test_a_broken_sandbox_on_a_worker_reads_as_in_a_local_run():
    cause = SandboxError("the sandbox could not start its runner (bubblewrap): bwrap: setting up uid map: Permission denied")
    error = _failure(wrapped(cause), "toy/add1")
    assert isinstance(error, GuidecodeError)
    assert str(error).startswith(f"task toy/add1: {cause}; what finished before it is saved")
    assert "times" not in str(error)


def test_a_guidecode_error_on_a_worker_keeps_its_message():
    error = _failure(wrapped(GuidecodeError("no threshold learned for this model: run guidecode calibrate")), "t/0")
    assert str(error).startswith("task t/0: no threshold learned for this model: run guidecode calibrate;")


def test_a_bug_on_a_worker_names_its_type_and_keeps_the_remote_traceback_but_claims_no_retry():
    error = str(_failure(wrapped(KeyError("logits")), "t/0"))
    assert "(KeyError: 'logits')" in error and 'test_ray_errors.py", line' in error and "times" not in error


def test_only_a_worker_that_died_is_said_to_have_been_tried_again():
    died = exceptions.RayActorError()
    assert f"failed on a Ray worker {RETRIES + 1} times" in str(_failure(died, "t/0"))
