"""Decoders that run candidates against a task's *public* tests before answering: `search`
(planning search, assistant/search.py) and its baseline `sample-filter` (draw N programs, keep the
first that passes the public tests, else the one passing most).

Public tests are the examples in the task's docstring (assistant/public_tests.py); the task's
`test` stays hidden and only scores the answer, as in PG-TD. A task whose docstring shows no
example has nothing to search against: `search` answers greedy's program, `sample-filter` its
first sample. Both spend at most `--rollouts` programs of the model's on a task.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from ..functions import find_function_slot
from ..progress import Progress
from .datasets import Task
from .decoding import MODEL_SETTINGS, AssistantDecoder, Candidate, DecoderSpec, _check_functions, _load_assistant, register, sample_seed

if TYPE_CHECKING:
    from sandbox import Sandbox

    from ..search import TestSuite
    from .settings import EvalSettings


def _public_sandbox(settings: EvalSettings) -> Sandbox:
    from sandbox import Limits, Sandbox

    return Sandbox(Limits(timeout_s=settings.timeout_s))


def _public_tests(task: Task) -> TestSuite:
    from ..search import TestSuite

    return TestSuite.build(task.prompt, task.entry_point)


class SearchDecoder(AssistantDecoder):
    def __init__(self, settings: EvalSettings, progress: Progress):
        from decoders.planning import PlanningConfig

        super().__init__(_load_assistant(settings, progress), settings.max_tokens)
        self.sandbox = _public_sandbox(settings)
        self.config = PlanningConfig(rollouts=settings.rollouts, temperature=settings.temperature, top_p=settings.top_p)
        self.seed = settings.seed

    def solve(self, task: Task, sample: int) -> Candidate:
        from ..search import search_function

        self.assistant.forget()  # records independent of the order tasks run in (Assistant.forget)
        tests = _public_tests(task)
        if tests.empty:
            return replace(super().solve(task, sample), rollouts=1)  # nothing to search against: greedy's program
        slot = find_function_slot(task.prompt, task.entry_point)
        config = replace(self.config, seed=sample_seed(self.seed, task.task_id, sample))
        found = search_function(self.assistant, slot, tests, self.sandbox, config)
        assert found is not None  # no cancel flag
        c = found.generated.completion
        program = slot.program(found.generated.body)
        # The check: a program the search returns as passing passes again, run afresh.
        _, rerun = _first_best(self.sandbox, [program], tests)
        public = (len(found.passed), len(tests.names))
        # tokens: every rollout's, as sample-and-filter counts every sample's (the cost, not the answer's length)
        return Candidate(
            found.generated.body, program, found.result.generated, c.seconds, c.stop_reason, rollouts=found.result.rollouts, public=public, public_rerun=rerun
        )


# Samples are drawn this many at a time, side by side, and tested before the next batch: the first
# passing program is the same as when all are drawn at once (each sample depends on its seed only),
# but a task whose early samples pass stops paying for the rest, as the search stops when solved.
SAMPLE_BATCH = 4


class SampleFilterDecoder(AssistantDecoder):
    def __init__(self, settings: EvalSettings, progress: Progress):
        assistant = _load_assistant(settings, progress, temperature=settings.temperature, top_p=settings.top_p)
        super().__init__(assistant, settings.max_tokens, settings.seed)
        self.sandbox = _public_sandbox(settings)
        self.rollouts = settings.rollouts

    def solve(self, task: Task, sample: int) -> Candidate:
        start = time.perf_counter()
        self.assistant.forget()
        assert self.seed is not None
        seeds = [sample_seed(self.seed, task.task_id, i) for i in range(self.rollouts)]
        slot = find_function_slot(task.prompt, task.entry_point)
        tests = _public_tests(task)
        if tests.empty:  # nothing to filter with: the first sample is the answer
            seeds = seeds[:1]
        drawn: list = []
        programs: list[str] = []
        chosen, passed = 0, None  # passed: public tests the chosen sample passes, once a batch ran them
        for batch in range(0, len(seeds), SAMPLE_BATCH):
            new = self.assistant.sample_function(task.prompt, seeds[batch : batch + SAMPLE_BATCH], name=task.entry_point, max_new_tokens=self.max_tokens)
            drawn += new
            programs += [slot.program(g.body) for g in new]
            if tests.empty:
                break
            best, best_passed = _first_best(self.sandbox, programs[batch:], tests)
            if passed is None or best_passed > passed:  # strictly more: among equals the earliest stays
                chosen, passed = batch + best, best_passed
            if passed == len(tests.names):
                break
        g = drawn[chosen]
        tokens = sum(d.completion.tokens for d in drawn)
        public = (passed or 0, len(tests.names))
        return Candidate(
            g.body, programs[chosen], tokens, time.perf_counter() - start, g.completion.stop_reason, seeds[chosen], rollouts=len(drawn), public=public
        )


def _first_best(sandbox: Sandbox, programs: list[str], tests: TestSuite) -> tuple[int, int]:
    """The first program passing every public test, else the first passing most; and how many it passes."""
    from sandbox import Job, Outcome

    passed = [0] * len(programs)
    for index, result in sandbox.run_many(Job(program, tests.source) for program in programs):
        passed[index] = sum(t.outcome == Outcome.PASSED for t in result.tests if t.name in tests.names)
    best = max(range(len(programs)), key=lambda i: (passed[i], -i))
    return best, passed[best]


def _build_search(settings: EvalSettings, progress: Progress) -> SearchDecoder:
    return SearchDecoder(settings, progress)


def _build_sample_filter(settings: EvalSettings, progress: Progress) -> SampleFilterDecoder:
    return SampleFilterDecoder(settings, progress)


register(
    DecoderSpec(
        "search",
        _build_search,
        MODEL_SETTINGS + ("rollouts", "temperature", "top_p", "seed"),
        "planning search (MCTS over tokens) whose rewards are the docstring's examples run in the sandbox, at most --rollouts programs"
        " (the first greedy's, the others sampled at --temperature and --top-p; --temperature 0: all greedy)",
        check=_check_functions,
        greedy_at_zero=True,
    )
)
register(
    DecoderSpec(
        "sample-filter",
        _build_sample_filter,
        MODEL_SETTINGS + ("rollouts", "temperature", "top_p", "seed"),
        "draw --rollouts programs, keep the first passing the docstring's examples (else the one passing most)",
        check=_check_functions,
    )
)
