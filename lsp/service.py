"""The completion service behind the LSP handlers: generations followed while typing, caches,
debounce, look-ahead, one model thread.

Invariants:
- One worker thread owns the model: generations never overlap, and the event loop never blocks
  on torch.
- Per document, one generation at a time. A request whose cursor follows it (the user typed what
  it writes, lsp/generations.py) is answered from it, as soon as it has written something; a request
  that disagrees with it cancels it (the decoding loop sees the flag within one step or prefill
  chunk; the time from flag to return is `abandonMs`) and starts the next after the debounce.
  `$/cancelRequest` ends the request, not the generation, which the next keystroke may still use.
- An answer given before its generation ended is refreshed: the client is told
  (`guidecode/inlineCompletionRefresh`) to ask again once more text is ready.
- After an accepted suggestion, the next one is generated before it is asked for; it is dropped
  like any other generation when the user goes elsewhere.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from urllib.parse import urlparse
from urllib.request import url2pathname

from assistant import Assistant, AssistantConfig, GuidecodeError
from assistant.context import RecentFiles
from assistant.progress import Progress

from .completion_cache import CompletionCache
from .generations import Generation, Rhythm, Verdict, showable
from .options import ServerOptions
from .stats import ServerStats

StatusSink = Callable[[str, str, float | None], None]  # (state, model, last latency ms)
RefreshSink = Callable[[str], None]  # uri: ask the client for that document's inline completion again


@dataclass
class Answer:
    text: str
    # "cold", "warm" (a generation this request started), "reused" (one an earlier keystroke
    # started, still running), "typed-ahead" (a finished one), "precomputed" (after an accept),
    # "lru", "cancelled", "superseded"
    kind: str
    scope: str = ""  # for model answers: "line" or "block"
    partial: bool = False  # the generation was still writing: more will come


Loader = Callable[[AssistantConfig], Assistant]


def document_path(uri: str | None) -> str | None:
    """The file a document URI names (the monitors' language server is told about it; it is never read)."""
    if not uri or not uri.startswith("file:"):
        return None
    return url2pathname(urlparse(uri).path)


def load_assistant(config: AssistantConfig) -> Assistant:
    return Assistant.load(config, progress=Progress.silent())


class CompletionService:
    def __init__(
        self,
        options: ServerOptions,
        status: StatusSink,
        warn: Callable[[str], None],
        loader: Loader = load_assistant,
        refresh: RefreshSink = lambda uri: None,
    ):
        self.options = options
        self.status = status
        self.warn = warn  # shows a message to the user
        self.refresh = refresh
        self.loader = loader
        self.stats = ServerStats()
        self.cache = CompletionCache()
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="guidecode-model")
        self._assistant: asyncio.Future | None = None
        self._newest: dict[str, int] = {}  # uri -> the ticket of its newest request
        self._generations: dict[str, Generation] = {}  # uri -> its latest generation
        self._rhythm: dict[str, Rhythm] = {}
        self.recent = RecentFiles()  # the documents opened and edited last: chunks of them are context
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
        for generation in list(self._generations.values()):
            self._drop(generation)  # written under the old settings
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

    async def complete(self, uri: str, text: str, offset: int, workspace: str | None = None, language: str | None = None, partial: bool = True) -> Answer:
        """The completion at `offset`; with `partial`, as soon as some of it is written (the
        client is asked to refresh it when the rest is), else once whole."""
        start = time.perf_counter()
        self.stats.count("requests")
        prefix, suffix = text[:offset], text[offset:]
        ticket = self._newer(uri)
        if (current := self._generations.get(uri)) is not None:
            kind = "precomputed" if current.origin == "lookahead" else "typed-ahead" if current.done else "reused"
            answer = await self._follow(current, prefix, suffix, ticket, kind, partial)
            if answer is not None:
                return self._finish(answer, start, (current, prefix, ticket))
            if self._newest.get(uri) != ticket:
                return self._superseded()
            self._drop(current)
        if (same := self.cache.recent(prefix, suffix)) is not None and same.strip():
            return self._finish(Answer(same, "lru"), start)
        await asyncio.sleep(self._debounce(uri, prefix))
        if self._newest.get(uri) != ticket:
            return self._superseded()
        assistant = await self.assistant()
        if self._newest.get(uri) != ticket:
            return self._superseded()
        started = self._start(assistant, uri, text, offset, workspace, language, "request")
        kind = "warm" if uri in self._warm else "cold"
        self._warm.add(uri)
        answer = await self._follow(started, prefix, suffix, ticket, kind, partial)
        if answer is None and self._newest.get(uri) != ticket:
            return self._superseded()
        if answer is None:  # it was cancelled, or wrote nothing
            return Answer("", "cancelled") if started.final is None else self._finish(Answer("", kind, started.scope), start)
        return self._finish(answer, start, (started, prefix, ticket))

    async def _follow(self, generation: Generation, prefix: str, suffix: str, ticket: int, kind: str, partial: bool) -> Answer | None:
        """The answer `generation` gives this cursor, as soon as it has one; None when it
        disagrees with what was typed, ended without anything more to say, or a newer request
        came."""
        uri = generation.uri
        while True:
            if self._newest.get(uri) != ticket:
                return None
            verdict, rest = generation.verdict(prefix, suffix)
            if verdict is Verdict.DISAGREES:
                return None
            if verdict is Verdict.AGREES and generation.done:
                return Answer(rest, kind, generation.scope) if rest.strip() else None
            if partial and verdict is Verdict.AGREES and (shown := showable(rest)):
                return Answer(shown, kind, partial=True)
            await generation.changed()

    def _newer(self, uri: str) -> int:
        """A ticket for the newest request on `uri`; the older ones following a generation stop."""
        self._sequence += 1
        self._newest[uri] = self._sequence
        if (current := self._generations.get(uri)) is not None:
            current.poke()
        return self._sequence

    def _superseded(self) -> Answer:
        self.stats.count("superseded")
        return Answer("", "superseded")

    def _drop(self, generation: Generation) -> None:
        """The user went elsewhere: stop `generation` if it still runs."""
        if generation.running:
            generation.cancel.set()
        if self._generations.get(generation.uri) is generation:
            del self._generations[generation.uri]

    def _debounce(self, uri: str, prefix: str) -> float:
        """No wait on a fresh line (after Enter and its indentation), where people pause to read
        the suggestion; else the typing rhythm's."""
        if not prefix[prefix.rfind("\n") + 1 :].strip():
            return 0.0
        return self._rhythm.setdefault(uri, Rhythm()).debounce(self.options.debounce_ms / 1000)

    def changed(self, uri: str, text: str, typed: bool = True) -> None:
        """The document was opened (`typed` False) or changed by the user: its text is context for
        the other documents, and the rhythm of its keystrokes sets the debounce."""
        if (path := document_path(uri)) is not None:
            self.recent.update(path, text)
        if typed:
            self._rhythm.setdefault(uri, Rhythm()).keystroke(time.perf_counter())

    def _start(self, assistant: Assistant, uri: str, text: str, offset: int, workspace: str | None, language: str | None, origin: str) -> Generation:
        """Start generating at `offset` on the worker thread; the result is the document's generation."""
        loop = asyncio.get_running_loop()
        generation = Generation(uri, text[:offset], text[offset:], origin)
        self._generations[uri] = generation
        path = document_path(uri)

        def sink(chunk: str) -> None:  # on the worker thread
            loop.call_soon_threadsafe(generation.grow, chunk)

        def run():
            where = {"workspace": workspace, "path": path, "language": language, "recent": self.recent}
            # After an accept at a line's end, the suggestion to precompute is the next line's.
            return assistant.complete(text, offset, cancel=generation.cancel, on_text=sink, next_line=origin == "lookahead", **where)

        future = loop.run_in_executor(self.worker, run)
        self.status("busy", self.options.model, self._last_latency)
        future.add_done_callback(lambda done: self._ended(generation, done))
        return generation

    def _ended(self, generation: Generation, future: asyncio.Future) -> None:
        self.status("idle", self.options.model, self._last_latency)
        completion = None if future.cancelled() or future.exception() is not None else future.result()
        if completion is None or generation.cancel.is_set():
            if generation.cancel.set_at is not None:
                self.stats.abandoned((time.perf_counter() - generation.cancel.set_at) * 1000)
            if future.done() and not future.cancelled() and future.exception() is not None:
                self.warn(f"guidecode could not complete: {future.exception()}")
            generation.finish(None)
            return
        self.stats.generation(completion)
        self.stats.count(f"generated:{generation.origin}")
        generation.finish(completion.text, completion.scope)
        self.cache.remember(generation.prefix, generation.suffix, completion.text)

    def _finish(self, answer: Answer, start: float, follows: tuple[Generation, str, int] | None = None) -> Answer:
        """Record `answer`; a partial one (`follows`: its generation, the request's prefix and
        ticket) is refreshed once its generation has more."""
        self._last_latency = (time.perf_counter() - start) * 1000
        self.stats.record(answer.kind, self._last_latency, answer.scope)
        if answer.partial and follows is not None:
            generation, prefix, ticket = follows
            self.stats.count("partial")
            shown_to = len(prefix) - len(generation.prefix) + len(answer.text)
            asyncio.ensure_future(self._refresh_when_more(generation, ticket, shown_to))
        return answer

    async def _refresh_when_more(self, generation: Generation, ticket: int, shown_to: int) -> None:
        """Once `generation` has written a further line or ended, beyond the first `shown_to`
        characters of its text that a partial answer showed (and no newer request came), ask the
        client to ask again: the partial answer grows into the whole one."""
        uri = generation.uri
        while self._newest.get(uri) == ticket and generation.running and "\n" not in generation.text[shown_to:]:
            await generation.changed()
        if self._newest.get(uri) != ticket or (generation.done and generation.final is None):
            return  # a newer request has its own answer, or the generation was cancelled
        if generation.running or generation.text[:shown_to].rstrip() != (generation.final or "").rstrip():
            self.stats.count("refreshes")
            self.refresh(uri)

    async def lookahead(self, uri: str, text: str, offset: int, workspace: str | None = None, language: str | None = None) -> None:
        """The user accepted a suggestion ending at `offset`: generate the next one now, before
        it is asked for (the next request follows it; one elsewhere drops it)."""
        loading = self._assistant
        if loading is None or not loading.done() or loading.cancelled() or loading.exception() is not None:
            return  # no model yet: nothing to precompute with
        if (current := self._generations.get(uri)) is not None:
            self._drop(current)
        self._warm.add(uri)
        self._start(loading.result(), uri, text, offset, workspace, language, "lookahead")

    def running(self) -> int:
        """Generations in flight."""
        return sum(g.running for g in self._generations.values())

    def forget(self, uri: str) -> None:
        """The document was closed."""
        if (current := self._generations.get(uri)) is not None:
            self._drop(current)
        self._newest.pop(uri, None)
        self._rhythm.pop(uri, None)  # its text stays among the recent files
        self._warm.discard(uri)

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
        for generation in self._generations.values():
            generation.cancel.set()
        self.worker.shutdown(wait=False, cancel_futures=True)
        done = self._assistant is not None and self._assistant.done() and not self._assistant.cancelled()
        if done and self._assistant.exception() is None:
            self._assistant.result().close()  # the monitors' language servers stop with us
