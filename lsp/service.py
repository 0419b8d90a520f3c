"""The completion service behind the LSP handlers: caches, debounce, cancellation, one model thread.

Invariants:
- One worker thread owns the model: generations never overlap, and the event loop never blocks
  on torch.
- Per document, only the newest request may generate. A newer request (or `$/cancelRequest`)
  sets the older one's cancel flag; the decoding loop sees it within one step (or one prefill
  chunk) and returns, and the time from flag to return is recorded as `abandonMs`.
- A request answered from a cache neither waits for the debounce nor touches the model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from urllib.parse import urlparse
from urllib.request import url2pathname

from assistant import Assistant, AssistantConfig, GuidecodeError
from assistant.progress import Progress

from .completion_cache import CompletionCache
from .options import ServerOptions
from .stats import ServerStats

StatusSink = Callable[[str, str, float | None], None]  # (state, model, last latency ms)


class TimedCancel(threading.Event):
    """A cancel flag that remembers when it was set, to measure how fast a generation stops."""

    set_at: float | None = None

    def set(self) -> None:
        if self.set_at is None:
            self.set_at = time.perf_counter()
        super().set()


@dataclass
class Answer:
    text: str
    kind: str  # "cold", "warm", "typed-ahead", "lru", "cancelled", "superseded"
    scope: str = ""  # for model answers: "line" or "block"


Loader = Callable[[AssistantConfig], Assistant]


def document_path(uri: str | None) -> str | None:
    """The file a document URI names (the monitors' language server is told about it; it is never read)."""
    if not uri or not uri.startswith("file:"):
        return None
    return url2pathname(urlparse(uri).path)


def load_assistant(config: AssistantConfig) -> Assistant:
    return Assistant.load(config, progress=Progress.silent())


class CompletionService:
    def __init__(self, options: ServerOptions, status: StatusSink, warn: Callable[[str], None], loader: Loader = load_assistant):
        self.options = options
        self.status = status
        self.warn = warn  # shows a message to the user
        self.loader = loader
        self.stats = ServerStats()
        self.cache = CompletionCache()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guidecode-model")
        self._assistant: asyncio.Future | None = None
        self._newest: dict[str, int] = {}
        self._running: dict[str, TimedCancel] = {}
        self._sequence = 0
        self._warm: set[str] = set()  # documents that already had a generation
        self._last_latency: float | None = None
        self.workspaces: tuple[str, ...] = ()
        self._sandbox_instance = None  # built on the first search: it probes bubblewrap once
        self._loaded_assistant: Assistant | None = None  # the worker thread's own reference

    # -- the model ---------------------------------------------------------------------------

    def start_loading(self, workspaces: tuple[str, ...] = ()) -> None:
        """Load the model in the worker thread now (and start the monitors' language server for
        the editor's workspace folders); requests wait for it."""
        self.workspaces = workspaces or self.workspaces
        loop = asyncio.get_running_loop()
        self.status("loading", self.options.model, self._last_latency)
        self._assistant = loop.run_in_executor(self.worker, self._load, self.options)
        self._assistant.add_done_callback(self._loaded)

    def _loaded(self, future: asyncio.Future) -> None:
        if future.cancelled() or future.exception() is None:
            self.status("idle", self.options.model, self._last_latency)
            return
        self.status("error", self.options.model, self._last_latency)
        self.warn(f"guidecode could not load a model: {future.exception()}")

    def _load(self, options: ServerOptions) -> Assistant:
        self._loaded_assistant = None  # until this load succeeds: reconfiguring waits for it
        try:
            assistant = self.loader(options.assistant_config())
        except GuidecodeError as error:
            if options.model == ServerOptions().model:
                raise
            self.warn(f"{error} Using the default model {ServerOptions().model} instead.")
            assistant = self.loader(ServerOptions(dtype=options.dtype, device=options.device, weights=options.weights).assistant_config())
        assistant.warm_up()
        for root in self.workspaces:
            assistant.monitors.prepare(root)  # the language server starts now, not in the first completion
        if options.speculation and not assistant.speculating:
            self.warn(assistant.speculation_note)
        self._check_reranking(assistant)
        self.stats.model = assistant.description
        self._loaded_assistant = assistant
        return assistant

    def _check_reranking(self, assistant: Assistant) -> None:
        """Reranking needs the model's learned threshold: without one, say so once and decode
        greedily, rather than fail every completion."""
        if not assistant.config.rerank.enabled or assistant.config.rerank.threshold is not None:
            return
        try:
            assistant.learned_threshold()
        except GuidecodeError as error:
            self.warn(f"{error}. Completions are greedy until then.")
            assistant.config = replace(assistant.config, rerank=replace(assistant.config.rerank, enabled=False))

    def reconfigure(self, options: ServerOptions) -> None:
        """New options; the model is reloaded only if it changed (before `initialized`, nothing loads)."""
        previous, self.options = self.options, options
        self.cache.clear()
        if self._assistant is None:
            return
        if previous.needs_reload(options):
            self.start_loading()
        else:
            # Generations run on the worker thread and read the assistant's configuration there:
            # it changes there too, after the load or the generation in flight and before the next
            # (the worker runs one job at a time, in the order they came).
            self.worker.submit(self._apply, options).add_done_callback(self._applied)

    def _applied(self, future) -> None:
        if future.exception() is not None:
            self.warn(f"guidecode could not apply the new settings: {future.exception()}")

    def _apply(self, options: ServerOptions) -> None:
        """Runs on the worker thread."""
        assistant = self._loaded_assistant
        if assistant is None:  # the load failed; the next load reads self.options
            return
        assistant.config = options.assistant_config()
        assistant.monitors.reconfigure(assistant.config.monitors)
        self._check_reranking(assistant)

    async def assistant(self) -> Assistant:
        if self._assistant is None:
            self.start_loading()
        return await self._assistant

    # -- completion --------------------------------------------------------------------------

    async def complete(self, uri: str, text: str, offset: int, workspace: str | None = None, language: str | None = None) -> Answer:
        start = time.perf_counter()
        self.stats.count("requests")
        prefix, suffix = text[:offset], text[offset:]
        cached = self._from_cache(uri, prefix, suffix)
        if cached is not None:
            return self._finish(cached, start)
        ticket = self._supersede(uri)
        await asyncio.sleep(self.options.debounce_ms / 1000)
        if self._newest.get(uri) != ticket:
            self.stats.count("superseded")
            return Answer("", "superseded")
        assistant = await self.assistant()
        if self._newest.get(uri) != ticket:
            self.stats.count("superseded")
            return Answer("", "superseded")
        cancel = TimedCancel()
        self._running[uri] = cancel
        try:
            answer = await self._generate(assistant, uri, text, offset, cancel, workspace, language)
        except asyncio.CancelledError:  # $/cancelRequest: stop the generation, let pygls answer
            cancel.set()
            raise
        finally:
            if self._running.get(uri) is cancel:
                del self._running[uri]
        if answer.kind != "cancelled":
            self.cache.remember(uri, prefix, suffix, answer.text)
            return self._finish(answer, start)
        return answer

    def _from_cache(self, uri: str, prefix: str, suffix: str) -> Answer | None:
        if (rest := self.cache.typed_ahead(uri, prefix, suffix)) is not None:
            return Answer(rest, "typed-ahead")
        if (same := self.cache.recent(prefix, suffix)) is not None:
            return Answer(same, "lru")
        return None

    def _supersede(self, uri: str) -> int:
        """Make this the newest request for `uri`, cancelling the generation in flight."""
        self._sequence += 1
        self._newest[uri] = self._sequence
        if (running := self._running.get(uri)) is not None:
            running.set()
        return self._sequence

    async def _generate(
        self, assistant: Assistant, uri: str, text: str, offset: int, cancel: TimedCancel, workspace: str | None, language: str | None
    ) -> Answer:
        loop = asyncio.get_running_loop()
        self.status("busy", self.options.model, self._last_latency)
        where = {"workspace": workspace, "path": document_path(uri), "language": language}
        try:
            completion = await loop.run_in_executor(self.worker, lambda: assistant.complete(text, offset, cancel=cancel, **where))
        finally:
            self.status("idle", self.options.model, self._last_latency)
        if cancel.is_set():
            self.stats.abandoned((time.perf_counter() - cancel.set_at) * 1000)
            return Answer("", "cancelled")
        self.stats.generation(completion)
        kind = "warm" if uri in self._warm else "cold"
        self._warm.add(uri)
        return Answer(completion.text, kind, completion.scope)

    def _finish(self, answer: Answer, start: float) -> Answer:
        self._last_latency = (time.perf_counter() - start) * 1000
        self.stats.record(answer.kind, self._last_latency, answer.scope)
        return answer

    def forget(self, uri: str) -> None:
        """The document was closed."""
        if (running := self._running.pop(uri, None)) is not None:
            running.set()
        self._newest.pop(uri, None)
        self._warm.discard(uri)
        self.cache.forget(uri)

    async def generate_function(self, text: str, offset: int, uri: str | None = None, workspace: str | None = None):
        """Write the body of the function around `offset` (the one whose header or docstring precedes it)."""
        assistant = await self.assistant()
        loop = asyncio.get_running_loop()
        self.status("busy", self.options.model, self._last_latency)
        try:
            return await loop.run_in_executor(self.worker, lambda: assistant.complete_function_at(text, offset, workspace=workspace, path=document_path(uri)))
        finally:
            self.status("idle", self.options.model, self._last_latency)

    async def search_function(self, text: str, offset: int, uri: str | None, workspace: str | None, tests, cancel, on_rollout):
        """The body of the function around `offset` that passes most of `tests`, by planning
        search (assistant/search.py); None if cancelled before a first program."""
        from assistant.functions import find_function_slot_at
        from assistant.search import search_function

        assistant = await self.assistant()
        slot = find_function_slot_at(text, offset)
        config = self.options.search_config()
        sandbox = self._sandbox()
        loop = asyncio.get_running_loop()
        self.status("busy", self.options.model, self._last_latency)
        try:
            return await loop.run_in_executor(
                self.worker,
                lambda: search_function(
                    assistant, slot, tests, sandbox, config, cancel=cancel, on_rollout=on_rollout, workspace=workspace, path=document_path(uri)
                ),
            )
        finally:
            self.status("idle", self.options.model, self._last_latency)

    def _sandbox(self):
        from sandbox import Sandbox

        if self._sandbox_instance is None:
            self._sandbox_instance = Sandbox()
        return self._sandbox_instance

    def shutdown(self) -> None:
        for flag in self._running.values():
            flag.set()
        self.worker.shutdown(wait=False, cancel_futures=True)
        done = self._assistant is not None and self._assistant.done() and not self._assistant.cancelled()
        if done and self._assistant.exception() is None:
            self._assistant.result().close()  # the monitors' language servers stop with us
