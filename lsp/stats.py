"""What the server reports through `guidecode.stats`: counts, latency percentiles, throughput."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import dataclass, field

from assistant.analysis.stats import percentile


@dataclass
class ServerStats:
    model: str = ""
    counts: Counter = field(default_factory=Counter)
    # Latencies in ms by how the answer was produced; bounded so a long session stays small.
    latencies: dict[str, deque] = field(default_factory=dict)
    by_scope: dict[str, deque] = field(default_factory=dict)  # the same model answers, split by scope
    abandon_ms: deque = field(default_factory=lambda: deque(maxlen=1000))
    generated_tokens: int = 0
    generation_seconds: float = 0.0
    prompt_tokens: int = 0
    prefill_tokens_saved: int = 0
    forward_passes: int = 0
    accepted_draft_tokens: int = 0
    monitored: int = 0  # completions the monitors guided
    monitor_queries: int = 0
    monitor_rejections: int = 0
    with_context: int = 0  # completions whose prompt held repository context
    context_retried: int = 0  # of those, written again with it after an unsure first line without it
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, ms: float, scope: str = "") -> None:
        """One answer's latency; model answers are also kept per scope ("warm/line", ...)."""
        with self.lock:
            self.counts[kind] += 1
            self.latencies.setdefault(kind, deque(maxlen=5000)).append(ms)
            if scope:
                self.by_scope.setdefault(f"{kind}/{scope}", deque(maxlen=5000)).append(ms)

    def count(self, what: str) -> None:
        with self.lock:
            self.counts[what] += 1

    def generation(self, completion) -> None:
        """One finished model completion (an assistant.Completion)."""
        with self.lock:
            self.generated_tokens += completion.tokens
            self.generation_seconds += completion.seconds
            self.prompt_tokens += completion.prompt_tokens
            self.prefill_tokens_saved += completion.reused_prompt_tokens
            self.forward_passes += completion.forward_passes
            self.accepted_draft_tokens += completion.accepted_draft_tokens
            self.monitored += completion.monitored
            self.monitor_queries += completion.monitor_queries
            self.monitor_rejections += completion.monitor_rejections
            self.with_context += completion.context_tokens > 0
            self.context_retried += completion.context_retried

    def abandoned(self, ms: float) -> None:
        with self.lock:
            self.counts["cancelled"] += 1
            self.abandon_ms.append(ms)

    def snapshot(self) -> dict:
        with self.lock:
            every = [ms for values in self.latencies.values() for ms in values]
            by_kind = {k: _summary(list(v)) for k, v in (self.latencies | self.by_scope).items()}
            return {
                "model": self.model,
                "requests": self.counts["requests"],
                "completions": sum(len(v) for v in self.latencies.values()),
                "cancelled": self.counts["cancelled"],
                "superseded": self.counts["superseded"],
                "cacheHits": {"typedAhead": self.counts["typed-ahead"], "lru": self.counts["lru"]},
                # Answers from a generation an earlier keystroke started and that still ran, or
                # one generated after an accept; answers given before their generation ended, and
                # the refreshes that then asked the client again.
                "reused": self.counts["reused"],
                "precomputed": self.counts["precomputed"],
                "partial": self.counts["partial"],
                "refreshes": self.counts["refreshes"],
                "generations": {"requested": self.counts["generated:request"], "lookahead": self.counts["generated:lookahead"]},
                "latencyMs": _summary(every),
                "latencyMsByKind": by_kind,
                "abandonMs": _summary(list(self.abandon_ms)),
                "tokensPerSecond": round(self.generated_tokens / self.generation_seconds, 2) if self.generation_seconds else None,
                "promptTokens": self.prompt_tokens,
                "prefillTokensSaved": self.prefill_tokens_saved,
                "monitors": {"completions": self.monitored, "queries": self.monitor_queries, "rejectedTokens": self.monitor_rejections},
                "context": {"completions": self.with_context, "writtenAgain": self.context_retried},
                "speculation": {
                    "forwardPasses": self.forward_passes,
                    "acceptedDraftTokens": self.accepted_draft_tokens,
                    "acceptedPerPass": round(self.accepted_draft_tokens / self.forward_passes, 2) if self.forward_passes else None,
                },
            }


def _summary(values: list[float]) -> dict:
    rounded = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {"n": len(values), "p50": rounded(percentile(values, 50)), "p95": rounded(percentile(values, 95)), "p99": rounded(percentile(values, 99))}
