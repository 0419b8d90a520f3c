"""`guidecode bench lsp`: replay typing a real file through the real server, as an editor would.

The file is opened with a stretch of it removed; that stretch is then typed back one character
at a time at a steady speed, pausing at each line end as a person reading ghost text would. Every
keystroke sends an incremental didChange and an inline-completion request, and cancels the
previous request if it is still open ($/cancelRequest), as VS Code does. Latencies are measured
by the client (request sent -> answer received); the server's own counters (`guidecode.stats`)
say which answers came from the model (cold / warm), from a cache (typed-ahead / LRU), how many
generations were abandoned and how fast, and how much prefill the KV reuse saved.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import BaseLanguageClient

from assistant.analysis.stats import percentile

from .environment import describe


@dataclass(frozen=True)
class TypingPlan:
    path: Path
    start_line: int  # 0-based first line of the typed stretch
    chars: int  # how many characters are typed
    cps: float  # typing speed, characters per second
    line_pause: float  # seconds of pause after each newline


def plan_stretch(text: str, plan: TypingPlan) -> tuple[str, int, str]:
    """(document without the stretch, offset where typing starts, the stretch to type)."""
    lines = text.split("\n")
    start = sum(len(l) + 1 for l in lines[: plan.start_line])
    typed = text[start : start + plan.chars]
    return text[:start] + text[start + len(typed) :], start, typed


def position_of(text: str, offset: int) -> lsp.Position:
    before = text[:offset]
    column = before[before.rfind("\n") + 1 :]
    return lsp.Position(before.count("\n"), len(column.encode("utf-16-le")) // 2)


class Replay:
    def __init__(self, client: BaseLanguageClient, uri: str, document: str, cursor: int):
        self.client, self.uri = client, uri
        self.document, self.cursor, self.version = document, cursor, 1
        self.latencies: list[float] = []  # ms, answers that arrived (not cancelled)
        self.nonempty = 0
        self.pending: list[asyncio.Future] = []

    def type_char(self, char: str) -> None:
        at = position_of(self.document, self.cursor)
        self.version += 1
        change = lsp.TextDocumentContentChangeEvent_Type1(range=lsp.Range(at, at), text=char)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri), [change]))
        self.document = self.document[: self.cursor] + char + self.document[self.cursor :]
        self.cursor += 1

    def request(self) -> None:
        for future in self.pending:
            if not future.done():
                future.cancel()  # pygls' client sends $/cancelRequest for a cancelled request future
        params = lsp.InlineCompletionParams(
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Automatic),
            text_document=lsp.TextDocumentIdentifier(self.uri),
            position=position_of(self.document, self.cursor),
        )
        sent = time.perf_counter()
        future = asyncio.ensure_future(self.client.text_document_inline_completion_async(params))
        future.add_done_callback(lambda f: self._answered(f, sent))
        self.pending = [f for f in self.pending if not f.done()] + [future]

    def _answered(self, future: asyncio.Future, sent: float) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        self.latencies.append((time.perf_counter() - sent) * 1000)
        result = future.result()
        items = result.items if hasattr(result, "items") else result or []
        self.nonempty += bool(items and items[0].insert_text)


async def run(plan: TypingPlan, model: str, dtype: str, options: dict | None = None, first_request_timeout: float = 300) -> dict:
    # pygls' client logs a traceback when the answer to a request it cancelled arrives anyway;
    # that is the expected race of $/cancelRequest, not an error of the run.
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.CRITICAL)
    text = plan.path.read_text(encoding="utf-8")
    document, cursor, typed = plan_stretch(text, plan)
    client = BaseLanguageClient("guidecode-bench", "0.1")
    statuses: list = []
    client.feature("guidecode/status")(lambda params: statuses.append(params))
    client.feature(lsp.WINDOW_SHOW_MESSAGE)(lambda params: print(f"server: {params.message}", file=sys.stderr))
    started = time.perf_counter()
    await client.start_io(sys.executable, "-m", "assistant.cli", "serve", "--model", model, "--dtype", dtype)
    await client.initialize_async(
        lsp.InitializeParams(capabilities=lsp.ClientCapabilities(), initialization_options={"model": model, "dtype": dtype, **(options or {})})
    )
    client.initialized(lsp.InitializedParams())
    await _wait_loaded(client, statuses)
    load_seconds = time.perf_counter() - started
    uri = plan.path.resolve().as_uri()
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(lsp.TextDocumentItem(uri, "python", 1, document)))
    replay = Replay(client, uri, document, cursor)
    first = time.perf_counter()
    replay.request()  # the first request on the newly opened file
    await asyncio.wait_for(asyncio.shield(replay.pending[-1]), first_request_timeout)
    first_ms = (time.perf_counter() - first) * 1000
    typing_started = time.perf_counter()
    for char in typed:
        replay.type_char(char)
        replay.request()
        await asyncio.sleep(1 / plan.cps + (plan.line_pause if char == "\n" else 0))
    await asyncio.gather(*replay.pending, return_exceptions=True)
    typing_seconds = time.perf_counter() - typing_started
    stats = await _execute(client, "guidecode.stats")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return {
        "how": {
            "model": stats["model"],
            "file": str(plan.path),
            "file_lines": text.count("\n") + 1,
            "typed_chars": len(typed),
            "start_line": plan.start_line + 1,
            "typing_cps": plan.cps,
            "line_pause_s": plan.line_pause,
            "server_options": options or {},
            "repetitions": 1,
            **describe(),
        },
        "model_load_seconds": round(load_seconds, 2),
        "first_request_ms": round(first_ms, 1),
        "client_latency_ms": {"n": len(replay.latencies), "p50": _r(percentile(replay.latencies, 50)), "p95": _r(percentile(replay.latencies, 95))},
        "nonempty_answers": replay.nonempty,
        "typing_seconds": round(typing_seconds, 1),
        "server": stats,
    }


def _r(value):
    return None if value is None else round(value, 1)


async def _execute(client: BaseLanguageClient, command: str):
    return await client.workspace_execute_command_async(lsp.ExecuteCommandParams(command=command, arguments=[]))


async def _wait_loaded(client: BaseLanguageClient, statuses: list, timeout: float = 600) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        states = [s["state"] if isinstance(s, dict) else s.state for s in statuses]
        if states and states[-1] == "idle":
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the server did not finish loading its model")


def report(result: dict) -> str:
    """A human-readable summary, every number with where it came from."""
    how, server = result["how"], result["server"]
    kinds = server["latencyMsByKind"]
    lines = [
        f"guidecode bench lsp — {how['model']}; {how['cpu']} x{how['cores']}, gpu: {how['gpu']}; torch {how['torch']}, transformers {how['transformers']}",
        f"input: {how['file']} ({how['file_lines']} lines), typed {how['typed_chars']} characters from line {how['start_line']} at {how['typing_cps']} chars/s, {how['line_pause_s']} s pause per line; {how['repetitions']} run; server options {how['server_options'] or 'default'}",
        f"model load (server start -> idle): {result['model_load_seconds']} s",
        f"first request on the newly opened file: {result['first_request_ms']} ms",
        "server latency by answer kind (ms):",
    ]
    for kind in ("cold", "warm", "warm/line", "warm/block", "typed-ahead", "lru"):
        if kind in kinds:
            k = kinds[kind]
            lines.append(f"  {kind:<12} n={k['n']:<5} p50={k['p50']}  p95={k['p95']}  p99={k['p99']}")
    abandon = server["abandonMs"]
    saved, prompt = server["prefillTokensSaved"], server["promptTokens"]
    lines += [
        f"client-side latency of answered requests: n={result['client_latency_ms']['n']} p50={result['client_latency_ms']['p50']} p95={result['client_latency_ms']['p95']} ms; non-empty answers: {result['nonempty_answers']}",
        f"requests {server['requests']}, superseded during debounce {server['superseded']}, generations abandoned {server['cancelled']} (abandon p50={abandon['p50']} p95={abandon['p95']} ms)",
        f"cache hits: typed-ahead {server['cacheHits']['typedAhead']}, LRU {server['cacheHits']['lru']}",
        f"KV reuse: {saved} of {prompt} prompt tokens not recomputed ({(saved / prompt * 100 if prompt else 0):.1f}% of prefill saved)",
        f"decode speed: {server['tokensPerSecond']} tokens/s (generated tokens / generation time)",
    ]
    return "\n".join(lines)
