"""The server's statistics count what each finished completion reports."""

from __future__ import annotations

from assistant.assistant import Completion
from lsp.stats import ServerStats


def completion(**fields) -> Completion:
    return Completion(text="x", model="m", tokens=2, seconds=0.5, stop_reason="stop", scope="line", prompt_tokens=10, **fields)


def test_completions_with_repository_context_and_those_written_again_are_counted():
    stats = ServerStats()
    stats.generation(completion())
    stats.generation(completion(context_tokens=40))
    stats.generation(completion(context_tokens=40, context_retried=True))
    snapshot = stats.snapshot()
    assert snapshot["context"] == {"completions": 2, "writtenAgain": 1}
    assert snapshot["promptTokens"] == 30 and snapshot["tokensPerSecond"] == 4.0
