"""Static analysis for monitor-guided decoding: member names and signatures from a language server.

Thread model. An `AnalysisSession` owns one language-server process (one of `registry.SERVERS`:
jedi-language-server through multilspy's own `JediServer`, any other through
`stdio_server.StdioServer`) and one background thread running an asyncio loop; only that loop
talks to the server and touches the document mirror. Decoding threads call `completions()` / `signature()` synchronously: each call
hands one coroutine to the loop and waits for it at most its budget.

Invariants.
- "No constraint" is None. A query that runs out of budget, meets a missing, dead or restarting
  server, or gets an error reply answers None, counts it in `stats`, and logs why on
  "guidecode.analysis"; the caller then constrains nothing. Neither query method waits past its
  budget or raises for any of these.
- An answer is a function of (path, text, offset) for the life of a session: the first answer given,
  None included, is cached and returned for every later identical question, so a decoder that
  re-verifies a step sees the guide it saw the first time.
- The server sees a document only through didOpen / didChange with the text the caller gave; the
  user's files are never read or written for it. The mirror (per document: text, version) changes
  only in the synchronous part of a query's coroutine, before its first await, so a query cancelled
  at its deadline leaves mirror and server agreeing.
- A server process that exits is restarted in the background, at most `max_restarts` times, with
  an empty mirror; meanwhile queries answer None. After that the session is unavailable, with
  `unavailable_reason`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import CancelledError
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

from multilspy.language_server import LanguageServer
from multilspy.lsp_protocol_handler.lsp_types import (
    CompletionContext,
    CompletionParams,
    CompletionTriggerKind,
    DefinitionParams,
    Position,
    SignatureHelpParams,
    TextDocumentContentChangeEvent,
    TextDocumentItem,
)

from .document_sync import OpenDocument, incremental_change, lsp_position
from .installation import find_server_binary
from .registry import SERVERS, ServerSpec, language_id
from .replies import Location, Member, Parameter, Signature, locations_from_reply, members_from_reply, signature_from_reply
from .servers import ExitAwareHandler, ServerExited, create_server
from .stats import percentile

__all__ = ["AnalysisConfig", "AnalysisSession", "AnalysisStats", "Location", "Member", "Parameter", "Signature"]

log = logging.getLogger("guidecode.analysis")

INVOKED, TRIGGER_CHARACTER = CompletionTriggerKind.Invoked, CompletionTriggerKind.TriggerCharacter  # IntEnums: sent as 1, 2


def completion_context(spec: ServerSpec, text: str, offset: int) -> CompletionContext:
    """Triggered by the last character of a member access ("." or "->"'s ">") that ends right
    at `offset`, as an editor sends it; invoked anywhere else."""
    for trigger in spec.triggers:
        if text.endswith(trigger, 0, offset):
            return {"triggerKind": TRIGGER_CHARACTER, "triggerCharacter": trigger[-1]}
    return {"triggerKind": INVOKED}


@dataclass(frozen=True)
class AnalysisConfig:
    server: str = "jedi"  # a name in registry.SERVERS: "jedi", "pyright" (Python), "typescript", "clangd", "gopls"
    budget_s: float = 0.5  # per-query latency budget once warm
    first_budget_s: float = 5.0  # the first query after a didOpen (the server loads what it imports)
    start_timeout_s: float = 30.0
    max_restarts: int = 3
    cache_entries: int = 4096

    def __post_init__(self) -> None:
        if self.server not in SERVERS:
            raise ValueError(f"server must be one of {sorted(SERVERS)}, got {self.server!r}")
        for name in ("budget_s", "first_budget_s", "start_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if not isinstance(self.max_restarts, int) or self.max_restarts < 0:
            raise ValueError(f"max_restarts must be an integer >= 0, got {self.max_restarts!r}")
        if not isinstance(self.cache_entries, int) or self.cache_entries < 1:
            raise ValueError(f"cache_entries must be an integer >= 1, got {self.cache_entries!r}")


@dataclass
class AnalysisStats:
    queries: int = 0  # every call, cache hits included
    cache_hits: int = 0
    timeouts: int = 0
    failures: int = 0  # None for any other reason: server missing, dead, restarting, error reply
    restarts: int = 0
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=1000))  # answered round trips
    reasons: deque = field(default_factory=lambda: deque(maxlen=20))  # the latest, newest last

    @property
    def p50_ms(self) -> float | None:
        return percentile(list(self.latencies_ms), 50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(list(self.latencies_ms), 95)


@dataclass
class RunningServer:
    server: LanguageServer
    stack: AsyncExitStack  # holds the server's start_server() context
    name: str  # its name in registry.SERVERS
    documents: dict[str, OpenDocument] = field(default_factory=dict)
    closing: bool = False

    @property
    def handler(self) -> ExitAwareHandler:
        handler = self.server.server
        assert isinstance(handler, ExitAwareHandler)  # create_server installs one before the server starts
        return handler

    def sync(self, uri: str, text: str) -> OpenDocument:
        """Bring the server's copy of `uri` to `text`: didOpen the first time (with the languageId
        its suffix says), else one didChange."""
        document = self.documents.get(uri)
        if document is None:
            document = self.documents[uri] = OpenDocument(uri, text)
            item: TextDocumentItem = {"uri": uri, "languageId": language_id(Path(uri).name, self.name), "version": 0, "text": text}
            self.handler.notify.did_open_text_document({"textDocument": item})
        elif document.text != text:
            # incremental_change builds an LSP range change as a plain dict
            change = cast(TextDocumentContentChangeEvent, incremental_change(document.text, text))
            document.text, document.version = text, document.version + 1
            self.handler.notify.did_change_text_document({"textDocument": {"uri": uri, "version": document.version}, "contentChanges": [change]})
        return document

    async def close(self) -> None:
        self.closing = True
        if not self.handler.exited():
            for uri in self.documents:
                self.handler.notify.did_close_text_document({"textDocument": {"uri": uri}})
        await self.stack.aclose()


class AnalysisSession:
    """One language server over one workspace root, used from synchronous code."""

    def __init__(self, root: str | Path, config: AnalysisConfig = AnalysisConfig()):
        self.root = os.path.abspath(root)
        self.config = config
        self.stats = AnalysisStats()
        self.unavailable_reason: str | None = None
        self._spec = SERVERS[config.server]
        self._name = self._spec.executable
        self._binary: str | None = None
        self._lock = threading.Lock()  # cache and stats: queries may come from several threads
        self._lifecycle = threading.Lock()  # start and close
        self._cache: OrderedDict = OrderedDict()
        self._inflight: dict = {}  # key -> concurrent Future of a prefetched request
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._running: RunningServer | None = None  # set by the loop; other threads only read it
        self._watchers: set[asyncio.Task] = set()
        self._changed = threading.Condition()  # notified whenever _running or availability changes
        self._closed = False

    def __enter__(self) -> AnalysisSession:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def available(self) -> bool:
        """Started, and neither given up (see unavailable_reason) nor closed; true while restarting."""
        return self._loop is not None and self.unavailable_reason is None and not self._closed

    @property
    def spec(self) -> ServerSpec:
        """What this session's server is and how it is asked (registry.py)."""
        return self._spec

    @property
    def server_pid(self) -> int | None:
        running = self._running
        process = running.handler.process if running else None
        return process.pid if process else None

    def wait_ready(self, timeout: float) -> bool:
        """Wait (at most timeout) until a live server is up or the session has given up; True if
        one is up. After a crash it waits for the restart once the loop has seen the exit (at once
        for a query that meets the dead server; a kill not yet reaped still looks alive)."""
        with self._changed:
            self._changed.wait_for(lambda: self._up() or not self.available, timeout)
        return self._up()

    def _up(self) -> bool:
        running = self._running
        return running is not None and not running.handler.exited()

    def start(self) -> None:
        """Start the server, wait for its initialize and warm-up (at most start_timeout_s; ~1 s for
        jedi, ~5 s for basedpyright, ~2 s for typescript-language-server, < 0.1 s for clangd and
        gopls); idempotent. A missing binary or a failed start makes the
        session unavailable; it never raises. The first query starts a session not yet started."""
        with self._lifecycle:
            if self._loop is not None or self.unavailable_reason or self._closed:
                return
            self._binary = find_server_binary(self.config.server)
            if self._binary is None:
                return self._give_up(f"{self._name} not found in guidecode's folder, this environment or on PATH ({self._spec.hint})")
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="guidecode-analysis", daemon=True)
            self._thread.start()
            future = asyncio.run_coroutine_threadsafe(self._launch(), self._loop)
            try:
                future.result(timeout=self.config.start_timeout_s)
            except TimeoutError:
                future.cancel()
                self._give_up(f"{self._name} did not initialize within {self.config.start_timeout_s} s")
            except (Exception, CancelledError) as error:
                self._give_up(f"{self._name} failed to start: {error!r}")

    def completions(self, path: str | Path, text: str, offset: int) -> tuple[Member, ...] | None:
        """Completion items at `offset` of `text` as members; None when there is no answer.
        () means the server answered with no items (e.g. it could not infer the object's type)."""
        return self._query("completion", path, text, offset, partial(members_from_reply, guess_kinds=self._spec.guess_kinds))

    def signature(self, path: str | Path, text: str, offset: int) -> Signature | None:
        if self._spec.parameters is None:
            return None
        return self._query("signatureHelp", path, text, offset, partial(signature_from_reply, style=self._spec.parameters))

    def definition(self, path: str | Path, text: str, offset: int, budget_s: float | None = None) -> tuple[Location, ...] | None:
        """Where the name at `offset` is defined; None when there is no answer, () when the server
        knows of no definition. `budget_s`: a caller's own deadline, when it is shorter than the
        session's budget."""
        return self._query("definition", path, text, offset, locations_from_reply, budget_s)

    def prefetch(self, path: str | Path, text: str, offset: int) -> None:
        """Ask for the completions at `offset` now without waiting: a later `completions` with the
        same arguments waits only for what is left (e.g. while the model reads its prompt)."""
        key, uri = self._key("completion", path, text, offset)
        running, loop = self._running, self._loop
        with self._lock:
            if key in self._cache or key in self._inflight or running is None or loop is None:
                return
            while len(self._inflight) >= 8:  # questions nobody came back for: forget the oldest
                self._inflight.pop(next(iter(self._inflight)))
            self._inflight[key] = asyncio.run_coroutine_threadsafe(self._request("completion", uri, text, offset), loop)

    def close(self) -> None:
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            loop, self._loop = self._loop, None
            if loop is None:
                return
            try:
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(self.config.start_timeout_s)
            except (Exception, CancelledError) as error:
                log.warning("closing %s: %r", self._name, error)
            loop.call_soon_threadsafe(loop.stop)
            assert self._thread is not None  # started together with the loop
            self._thread.join(timeout=5)
            if not self._thread.is_alive():
                loop.close()
            self._set_running(None)

    # The synchronous side: cache, budget, bookkeeping.

    def _query(self, method: str, path: str | Path, text: str, offset: int, convert: Callable[[object], object], budget_s: float | None = None):
        key, uri = self._key(method, path, text, offset)
        with self._lock:
            self.stats.queries += 1
            if key in self._cache:
                self.stats.cache_hits += 1
                self._cache.move_to_end(key)
                return self._cache[key]
            prefetched = self._inflight.pop(key, None)
        reply = self._ask(method, uri, text, offset, prefetched, budget_s)
        answer = None if reply is None else convert(reply)  # a null reply: the server declined
        with self._lock:
            answer = self._cache.setdefault(key, answer)  # a racing thread's answer stands
            while len(self._cache) > self.config.cache_entries:
                self._cache.popitem(last=False)
        return answer

    def _key(self, method: str, path: str | Path, text: str, offset: int) -> tuple[tuple, str]:
        if not 0 <= offset <= len(text):
            raise ValueError(f"offset {offset} is outside the text (length {len(text)})")
        uri = Path(os.path.abspath(os.path.join(self.root, path))).as_uri()
        digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return (method, uri, digest, offset), uri

    def _ask(self, method: str, uri: str, text: str, offset: int, prefetched=None, budget_s: float | None = None):
        if self._loop is None and not self._closed:
            self.start()
        running, loop = self._running, self._loop
        if running is None or loop is None:
            closed = "the analysis session is closed" if self._closed else None
            return self._no_answer(closed or self.unavailable_reason or f"{self._name} is restarting")
        document = running.documents.get(uri)  # a read across threads: at worst a stale budget
        budget = self.config.budget_s if document and document.queried else self.config.first_budget_s
        budget = budget if budget_s is None else min(budget, budget_s)
        started = time.perf_counter()
        future = prefetched or asyncio.run_coroutine_threadsafe(self._request(method, uri, text, offset), loop)
        try:
            reply = future.result(timeout=budget)
        except TimeoutError:
            future.cancel()
            return self._no_answer(f"{method} gave no answer within {budget * 1000:.1f} ms", timeout=True)
        except (Exception, CancelledError) as error:  # a dead server, an error reply
            return self._no_answer(f"{method} failed: {error!r}")
        with self._lock:
            self.stats.latencies_ms.append((time.perf_counter() - started) * 1000)
        return reply

    def _no_answer(self, reason: str, timeout: bool = False) -> None:
        with self._lock:
            if timeout:
                self.stats.timeouts += 1
            else:
                self.stats.failures += 1
            self.stats.reasons.append(reason)
        log.info("no constraint: %s", reason)
        return None

    def _give_up(self, reason: str) -> None:
        self.unavailable_reason = reason
        self._note(f"static analysis unavailable: {reason}")
        self._set_running(None)

    def _set_running(self, running: RunningServer | None) -> None:
        with self._changed:
            self._running = running
            self._changed.notify_all()

    def _note(self, reason: str) -> None:
        with self._lock:
            self.stats.reasons.append(reason)
        log.warning("%s", reason)

    # The loop side: the only code that talks to the server.

    async def _request(self, method: str, uri: str, text: str, offset: int):
        running = self._running
        if running is None:
            raise ServerExited(f"{self._name} is restarting")
        document = running.sync(uri, text)
        # lsp_position builds an LSP Position as a plain dict
        position = cast(Position, lsp_position(text, offset, utf16=self._spec.utf16_columns))
        if method == "definition":
            definition_params: DefinitionParams = {"textDocument": {"uri": uri}, "position": position}
            reply = await running.handler.send.definition(definition_params)
            # Only an answer says the server has read what the document imports: a definition
            # question given up early leaves the monitors' first question its longer budget.
            document.queried = True
            return reply or []  # null: no definition, which is an answer
        try:
            if method == "completion":
                context = completion_context(self._spec, text, offset)
                params: CompletionParams = {"textDocument": {"uri": uri}, "position": position, "context": context}
                return await running.handler.send.completion(params)
            signature_params: SignatureHelpParams = {"textDocument": {"uri": uri}, "position": position}
            return await running.handler.send.signature_help(signature_params)
        finally:
            document.queried = True

    async def _launch(self) -> None:
        assert self._binary is not None  # start() found it before launching
        server = create_server(self.config.server, self._binary, self.root)
        stack = AsyncExitStack()
        running = RunningServer(server, stack, self.config.server)
        try:
            await stack.enter_async_context(server.start_server())
            await self._warm_up(running)
        except BaseException:
            # start_server leaves the process running when initialize fails; a stopped process
            # also makes the stack's shutdown request a no-op instead of a 30 s wait
            await server.server.stop()
            await stack.aclose()
            raise
        self._set_running(running)
        watcher = asyncio.get_running_loop().create_task(self._watch(running))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _warm_up(self, running: RunningServer) -> None:
        """Member queries on a scratch document until one answers within half the warm budget (at
        most one round per warm-up text), so the server loads the builtins, and node compiles its
        code, now rather than during the caller's first queries (basedpyright's first take seconds)."""
        uri = Path(self.root, self._spec.warm_up_file).as_uri()
        for text in self._spec.warm_up:
            running.sync(uri, text)
            params: CompletionParams = {
                "textDocument": {"uri": uri},
                "position": cast(Position, lsp_position(text, len(text))),  # a plain dict from document_sync
                "context": completion_context(self._spec, text, len(text)),
            }
            started = time.perf_counter()
            await running.handler.send.completion(params)
            if time.perf_counter() - started < self.config.budget_s / 2:
                break
        if uri in running.documents:
            running.handler.notify.did_close_text_document({"textDocument": {"uri": uri}})
            del running.documents[uri]

    async def _watch(self, running: RunningServer) -> None:
        """Wait for the process to exit; unless we are closing it, restart it (bounded)."""
        process = running.handler.process
        assert process is not None  # start_server started it before _launch created this watcher
        code = await process.wait()
        if running.closing:
            return
        self._set_running(None)
        self._note(f"{self._name} exited with code {code}")
        try:
            await running.close()
        except Exception as error:
            log.info("cleaning up after %s: %r", self._name, error)
        if self.stats.restarts >= self.config.max_restarts:
            return self._give_up(f"{self._name} exited {self.stats.restarts + 1} times; not restarting it again")
        with self._lock:
            self.stats.restarts += 1
        try:
            await asyncio.wait_for(self._launch(), self.config.start_timeout_s)
        except Exception as error:
            self._give_up(f"{self._name} failed to restart: {error!r}")

    async def _shutdown(self) -> None:
        for watcher in list(self._watchers):  # a restart in flight stops its own process
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        running = self._running
        self._set_running(None)
        if running is not None:
            await running.close()
