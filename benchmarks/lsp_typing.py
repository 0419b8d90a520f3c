"""`guidecode bench lsp`: replay a person typing a real file through the real server, as an editor
would, and measure what they would see: ghost text in the pauses.

The file is opened with a stretch of lines removed; the stretch is typed back at a steady speed,
with pauses (a seeded random length between `pause_min` and `pause_max`) at every line end and at
random points within lines. Enter and the next line's indentation are one keystroke (editors
indent on Enter). Every keystroke sends an incremental didChange and an inline-completion
request, and cancels the previous request if it is still open ($/cancelRequest), as VS Code does;
a `guidecode/inlineCompletionRefresh` during a pause asks again, as the extension does.

In a pause, the ghost text shown is the latest non-empty answer to a request made since the last
keystroke. When it is exactly what the person goes on to type (and at least a word), they accept
it with Tab: the text is inserted as one change, the item's command (`guidecode.accepted`) runs,
and a new pause starts after it, as a person reads the next suggestion.

Reported: the share of pauses in which ghost text was shown before the pause ended, the time from
the pause's start (its last keystroke) to the first ghost text, whether the text shown at the end
of the pause was what came next (its first line, and its first word), and the server's own
counters: generations started, cancelled, re-targeted (reused), precomputed after an accept.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import BaseLanguageClient

from assistant.analysis.stats import percentile

from .environment import describe

REFRESH = "guidecode/inlineCompletionRefresh"


@dataclass(frozen=True)
class TypingPlan:
    path: Path
    start_line: int  # 0-based first line of the typed stretch
    lines: int  # how many lines are typed
    cps: float = 8.0  # typing speed, characters per second
    pause_min: float = 0.3  # seconds
    pause_max: float = 1.0
    random_pauses: float = 0.04  # chance of a pause after a keystroke within a line
    seed: int = 0
    accept: bool = True  # Tab on ghost text that is exactly what comes next


def plan_stretch(text: str, plan: TypingPlan) -> tuple[str, int, str]:
    """(document without the stretch, offset where typing starts, the stretch to type). The
    stretch's lines are emptied into one empty line, where typing starts, as when one writes new
    lines into a file: the text after the cursor's line is the file's next line, not on it."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[: plan.start_line])
    end = sum(len(line) + 1 for line in lines[: plan.start_line + plan.lines]) - 1  # the stretch's last newline stays
    end = max(min(end, len(text)), start)
    return text[:start] + text[end:], start, text[start:end]


_STROKE = re.compile(r"\n[ \t]*|.", re.DOTALL)


def next_stroke(typed: str, done: int) -> str:
    """The keystroke that types on from character `done`: one character, or Enter with the next
    line's indentation, which an editor inserts at once."""
    match = _STROKE.match(typed, done)
    return match.group(0) if match else ""


def position_of(text: str, offset: int) -> lsp.Position:
    before = text[:offset]
    column = before[before.rfind("\n") + 1 :]
    return lsp.Position(before.count("\n"), len(column.encode("utf-16-le")) // 2)


@dataclass
class Pause:
    started: float  # perf_counter of its last keystroke
    seconds: float
    expected: str  # what the person goes on to type (the rest of the stretch)
    after_accept: bool = False
    shown_ms: float | None = None  # pause start -> first ghost text
    shown: str = ""  # the ghost text shown when the pause ended
    accepted: bool = False

    def line_match(self) -> bool:
        """The shown text's first line is the rest of the line the person types."""
        first = self.shown.split("\n", 1)[0].rstrip()
        return bool(first) and first == self.expected.split("\n", 1)[0].rstrip()

    def word_match(self) -> bool:
        shown, expected = _first_word(self.shown), _first_word(self.expected)
        return bool(shown) and shown == expected


_WORD = re.compile(r"\s*(\w+|[^\w\s]+)")


def _first_word(text: str) -> str:
    match = _WORD.match(text)
    return match.group(1) if match else ""


@dataclass
class Replay:
    client: BaseLanguageClient
    uri: str
    document: str
    cursor: int
    version: int = 1
    stroke: int = 0  # keystrokes (and accepts) so far: an answer counts only for the latest
    pending: list[asyncio.Future] = field(default_factory=list)
    pause: Pause | None = None
    last_command: lsp.Command | None = None

    def edit(self, text: str) -> None:
        at = position_of(self.document, self.cursor)
        self.version += 1
        change = lsp.TextDocumentContentChangeEvent_Type1(range=lsp.Range(at, at), text=text)
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(lsp.VersionedTextDocumentIdentifier(version=self.version, uri=self.uri), [change]))
        self.document = self.document[: self.cursor] + text + self.document[self.cursor :]
        self.cursor += len(text)
        self.stroke += 1
        self.last_command = None

    def request(self) -> asyncio.Future:
        for future in self.pending:
            if not future.done():
                future.cancel()  # pygls' client sends $/cancelRequest for a cancelled request future
        params = lsp.InlineCompletionParams(
            context=lsp.InlineCompletionContext(trigger_kind=lsp.InlineCompletionTriggerKind.Automatic),
            text_document=lsp.TextDocumentIdentifier(self.uri),
            position=position_of(self.document, self.cursor),
        )
        stroke = self.stroke
        future = asyncio.ensure_future(self.client.text_document_inline_completion_async(params))
        future.add_done_callback(lambda f: self._answered(f, stroke))
        self.pending = [f for f in self.pending if not f.done()] + [future]
        return future

    def _answered(self, future: asyncio.Future, stroke: int) -> None:
        if future.cancelled() or future.exception() is not None or stroke != self.stroke or self.pause is None:
            return
        result = future.result()
        items = result.items if hasattr(result, "items") else result or []
        if not items or not items[0].insert_text:
            return
        if self.pause.shown_ms is None:
            self.pause.shown_ms = (time.perf_counter() - self.pause.started) * 1000
        self.pause.shown = items[0].insert_text
        self.last_command = items[0].command

    def refreshed(self, params) -> None:
        uri = params["uri"] if isinstance(params, dict) else getattr(params, "uri", None)
        if uri == self.uri and self.pause is not None:
            self.request()


async def _type_stretch(replay: Replay, typed: str, plan: TypingPlan) -> list[Pause]:
    rng = random.Random(plan.seed)
    pauses: list[Pause] = []
    done = 0  # characters of `typed` already in the document
    while done < len(typed):
        stroke = next_stroke(typed, done)
        replay.edit(stroke)
        done += len(stroke)
        replay.request()
        if done >= len(typed) or not (stroke.startswith("\n") or rng.random() < plan.random_pauses):
            await asyncio.sleep(1 / plan.cps)
            continue
        pause = await _pause(replay, typed[done:], rng, plan)
        pauses.append(pause)
        while plan.accept and _first_word(pause.shown) and typed.startswith(pause.shown, done) and done < len(typed):
            pause.accepted = True  # Tab: the suggestion goes in at once, then its command runs
            command = replay.last_command
            replay.edit(pause.shown)
            done += len(pause.shown)
            if command is not None:
                await replay.client.workspace_execute_command_async(lsp.ExecuteCommandParams(command.command, command.arguments))
            replay.request()
            if done >= len(typed):
                break
            pause = await _pause(replay, typed[done:], rng, plan, after_accept=True)
            pauses.append(pause)
    return pauses


async def _pause(replay: Replay, expected: str, rng: random.Random, plan: TypingPlan, after_accept: bool = False) -> Pause:
    seconds = rng.uniform(plan.pause_min, plan.pause_max)
    pause = Pause(time.perf_counter(), seconds, expected, after_accept)
    replay.pause = pause
    await asyncio.sleep(seconds)
    replay.pause = None
    return pause


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
    client.feature(REFRESH)(lambda params: replay.refreshed(params))
    first = await _first_request(replay, first_request_timeout)
    typing_started = time.perf_counter()
    pauses = await _type_stretch(replay, typed, plan)
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
            "typed_lines": plan.lines,
            "typed_chars": len(typed),
            "start_line": plan.start_line + 1,
            "typing_cps": plan.cps,
            "pauses_s": [plan.pause_min, plan.pause_max],
            "random_pause_chance": plan.random_pauses,
            "seed": plan.seed,
            "accept": plan.accept,
            "server_options": options or {},
            "repetitions": 1,
            **describe(),
        },
        "model_load_seconds": round(load_seconds, 2),
        "first_request": first,
        "typing_seconds": round(typing_seconds, 1),
        "pauses": summarize(pauses),
        "pause_log": [asdict(p) | {"line_match": p.line_match(), "word_match": p.word_match()} for p in pauses],
        "server": stats,
    }


async def _first_request(replay: Replay, timeout: float) -> dict:
    """The first request on the newly opened file: time to its first ghost text, and to its whole
    answer (after any refreshes)."""
    pause = Pause(time.perf_counter(), timeout, "")
    replay.pause = pause
    replay.request()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        stats = await _execute(replay.client, "guidecode.stats")
        if pause.shown_ms is not None and stats["running"] == 0 and all(f.done() for f in replay.pending):
            break
        await asyncio.sleep(0.02)
    whole_ms = (time.perf_counter() - pause.started) * 1000
    replay.pause = None
    return {"ghost_text_ms": _r(pause.shown_ms), "whole_ms": round(whole_ms, 1), "text": pause.shown}


def summarize(pauses: list[Pause]) -> dict:
    shown = [p for p in pauses if p.shown_ms is not None]
    latencies = [p.shown_ms for p in shown if p.shown_ms is not None]
    return {
        "n": len(pauses),
        "after_accept": sum(p.after_accept for p in pauses),
        "shown": len(shown),
        "shown_share": round(len(shown) / len(pauses), 3) if pauses else None,
        "shown_ms": {"p50": _r(percentile(latencies, 50)), "p95": _r(percentile(latencies, 95))},
        "line_match": sum(p.line_match() for p in shown),
        "word_match": sum(p.word_match() for p in shown),
        "accepted": sum(p.accepted for p in pauses),
        "accepted_chars": sum(len(p.shown) for p in pauses if p.accepted),
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
    how, server, pauses, first = result["how"], result["server"], result["pauses"], result["first_request"]
    share = f"{pauses['shown_share'] * 100:.0f}%" if pauses["shown_share"] is not None else "-"
    lines = [
        f"guidecode bench lsp — {how['model']}; {how['cpu']} x{how['cores']}, gpu: {how['gpu']}; torch {how['torch']}, transformers {how['transformers']}",
        f"input: {how['file']} ({how['file_lines']} lines), typed {how['typed_lines']} lines ({how['typed_chars']} characters) from line {how['start_line']} "
        f"at {how['typing_cps']} chars/s; pauses of {how['pauses_s'][0]}-{how['pauses_s'][1]} s at line ends and at random "
        f"(chance {how['random_pause_chance']} a keystroke, seed {how['seed']}); accept exact ghost text: {how['accept']}; {how['repetitions']} run; "
        f"server options {how['server_options'] or 'default'}",
        f"model load (server start -> idle): {result['model_load_seconds']} s",
        f"first request on the newly opened file: ghost text after {first['ghost_text_ms']} ms, whole answer after {first['whole_ms']} ms",
        f"pauses: {pauses['n']} ({pauses['after_accept']} after an accept); ghost text shown before the pause ended in {pauses['shown']} ({share})",
        f"pause start -> ghost text: p50 {pauses['shown_ms']['p50']} ms, p95 {pauses['shown_ms']['p95']} ms",
        f"shown text was what came next: whole line {pauses['line_match']} of {pauses['shown']}, first word {pauses['word_match']} of {pauses['shown']}; "
        f"accepted {pauses['accepted']} ({pauses['accepted_chars']} characters not typed)",
        f"server: requests {server['requests']}; generations {server['generations']['requested']} requested + {server['generations']['lookahead']} precomputed after an accept; "
        f"cancelled {server['cancelled']} (abandon p50 {server['abandonMs']['p50']} ms); answers reused from a running generation {server['reused']}, "
        f"typed-ahead {server['cacheHits']['typedAhead']}, precomputed {server['precomputed']}, LRU {server['cacheHits']['lru']}; "
        f"partial answers {server['partial']}, refreshes {server['refreshes']}; superseded during debounce {server['superseded']}",
        f"KV reuse: {server['prefillTokensSaved']} of {server['promptTokens']} prompt tokens not recomputed; decode speed {server['tokensPerSecond']} tokens/s",
    ]
    return "\n".join(lines)
