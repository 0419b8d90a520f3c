"""Generations followed while the user types: reuse instead of cancel, partial answers and their
refresh, look-ahead after an accept, and never an answer that contradicts what was typed.

In process, on the tiny random model made to write a known line by a guide that also takes time
per step (as a monitor asking a language server does), so that a generation is still running
when the next keystroke comes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest
import torch

from assistant import Assistant
from assistant.progress import Progress
from decoders.guides import Guide
from decoders.vocabulary import Vocabulary
from lsp.generations import Generation, Rhythm, Verdict, showable
from lsp.options import ServerOptions
from lsp.service import CompletionService

from .conftest import TEST_DTYPE

LINE = "compute_total(alpha, beta, gamma)"
URI = "file:///tmp/guidecode-following/app.py"
DOCUMENT = "def f(alpha, beta, gamma):\n    return \n"
CURSOR = DOCUMENT.index("return ") + len("return ")


@dataclass(frozen=True)
class SlowScript(Guide):
    """Only tokens that spell the next characters of `script`; each step takes `delay` seconds."""

    vocabulary: Vocabulary
    script: str
    delay: float

    def allowed(self) -> torch.Tensor:
        time.sleep(self.delay)
        ids = [i for i, text in enumerate(self.vocabulary.texts) if text and self.script.startswith(text)]
        return self.vocabulary.mask(ids)

    def advance(self, token: int) -> SlowScript:
        return SlowScript(self.vocabulary, self.script[len(self.vocabulary.texts[token]) :], self.delay)


class Typist(Assistant):
    """The real Assistant; every completion writes LINE (then a newline), slowly."""

    delay = 0.03

    def complete(self, text, cursor, **kwargs):
        return super().complete(text, cursor, guide=SlowScript(self.vocabulary, LINE + "\n", Typist.delay), **kwargs)


@pytest.fixture
def service(tiny_model_dir):
    refreshed: list[str] = []
    options = ServerOptions(model=str(tiny_model_dir), dtype=TEST_DTYPE, max_tokens=60, healing=False, speculation=False, debounce_ms=0)
    made = CompletionService(
        options, status=lambda *a: None, warn=print, loader=lambda config: Typist.load(config, progress=Progress.silent()), refresh=refreshed.append
    )
    made.refreshed = refreshed  # type: ignore[attr-defined]
    yield made
    made.shutdown()


def typed(n: int) -> tuple[str, int]:
    """The document after typing the first `n` characters of LINE at the cursor, and the cursor."""
    return DOCUMENT[:CURSOR] + LINE[:n] + DOCUMENT[CURSOR:], CURSOR + n


async def loaded(service: CompletionService) -> None:
    service.start_loading()
    await service.assistant()


def test_keystrokes_that_agree_reuse_the_generation_and_answers_never_contradict_them(service):
    async def scenario():
        await loaded(service)
        answers = []
        for n in range(0, 12, 2):  # two characters of LINE at a time, faster than it is written
            text, offset = typed(n)
            answer = await service.complete(URI, text, offset)
            answers.append((n, answer))
        for n, answer in answers:
            assert answer.text and LINE[n:].startswith(answer.text), (n, answer)  # agrees with what was typed
        kinds = [a.kind for _, a in answers]
        assert kinds[0] == "cold" and "reused" in kinds
        stats = service.stats.snapshot()
        assert stats["generations"]["requested"] <= 1 and stats["cancelled"] == 0  # one generation served every keystroke

    asyncio.run(scenario())


def test_a_keystroke_that_disagrees_cancels_the_generation(service):
    async def scenario():
        await loaded(service)
        text, offset = typed(0)
        first = await service.complete(URI, text, offset)
        assert first.partial  # shown before its generation ended
        wrong = text[:offset] + "x" + text[offset:]
        second = await service.complete(URI, wrong, offset + 1)
        assert second.kind == "warm" and LINE.startswith(second.text)  # a new generation, from the new cursor
        await asyncio.sleep(0)
        assert service.stats.snapshot()["cancelled"] == 1

    asyncio.run(scenario())


def test_a_partial_answer_is_refreshed_and_grows_into_the_whole_line(service):
    async def scenario():
        await loaded(service)
        text, offset = typed(0)
        first = await service.complete(URI, text, offset)
        assert first.partial and first.text != LINE
        for _ in range(200):
            if service.refreshed:  # type: ignore[attr-defined]
                break
            await asyncio.sleep(0.05)
        assert service.refreshed == [URI]  # type: ignore[attr-defined]
        again = await service.complete(URI, text, offset)
        assert (again.text, again.kind, again.partial) == (LINE, "typed-ahead", False)

    asyncio.run(scenario())


def test_after_an_accept_the_next_suggestion_is_precomputed(service):
    async def scenario():
        await loaded(service)
        Typist.delay = 0.0
        try:
            text, offset = typed(0)
            await service.complete(URI, text, offset, partial=False)
            accepted, end = typed(len(LINE))
            await service.lookahead(URI, accepted, end)
            answer = await service.complete(URI, accepted, end, partial=False)
            assert answer.kind == "precomputed" and answer.text == LINE
            assert service.stats.snapshot()["generations"] == {"requested": 1, "lookahead": 1}
            elsewhere = "# moved\n" + accepted
            moved = await service.complete(URI, elsewhere, end + len("# moved\n"), partial=False)
            assert moved.kind == "warm"  # the look-ahead did not fit there: a fresh generation
        finally:
            Typist.delay = 0.03

    asyncio.run(scenario())


def test_verdicts_of_a_running_and_a_finished_generation():
    async def scenario():
        generation = Generation("u", "a = ", "\n", "request")
        generation.grow("foo(")
        assert generation.verdict("a = fo", "\n") == (Verdict.AGREES, "o(")
        assert generation.verdict("a = foo(bar", "\n") == (Verdict.UNDECIDED, "")
        assert generation.verdict("a = fx", "\n")[0] is Verdict.DISAGREES
        assert generation.verdict("a = fo", "x\n")[0] is Verdict.DISAGREES  # the text after the cursor changed
        assert generation.verdict("b = ", "\n")[0] is Verdict.DISAGREES
        generation.finish("foo(bar)", "line")
        assert generation.verdict("a = foo(bar", "\n") == (Verdict.AGREES, ")")
        assert generation.verdict("a = foo(bar))", "\n")[0] is Verdict.DISAGREES
        cancelled = Generation("u", "", "", "request")
        cancelled.grow("x")
        cancelled.finish(None)
        assert cancelled.verdict("", "")[0] is Verdict.DISAGREES

    asyncio.run(scenario())


def test_showable_is_what_was_written_without_trailing_blanks():
    assert showable("return tot") == "return tot"
    assert showable("total( ") == "total("
    assert showable("  ") == ""
    assert showable("") == ""


def test_the_debounce_follows_the_typing_rhythm():
    rhythm = Rhythm()
    assert rhythm.debounce(0.1) == 0.1  # nothing measured yet
    for at in (0.0, 0.08, 0.16, 0.24, 0.32, 0.40):
        rhythm.keystroke(at)
    assert rhythm.debounce(0.1) == pytest.approx(0.04)  # half the usual gap
    rhythm.keystroke(10.0)  # a pause is not part of the rhythm
    assert rhythm.debounce(0.1) == pytest.approx(0.04)
    slow = Rhythm()
    for at in (0.0, 0.5, 1.0, 1.5, 2.0):
        slow.keystroke(at)
    assert slow.debounce(0.1) == 0.1  # never longer than asked
