"""The `Assistant`: the one door every front end (CLI, language server, benchmarks) goes through.

It owns a loaded model, builds prompts from the document and the cursor, picks the scope and
stop rules, and runs the decoding loop. It never touches tensors itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cached_property, partial
from pathlib import Path
from typing import Protocol, cast

import torch

from decoders import CancelFlag, Engine, GenerationResult, Plugins, SamplingConfig, Session, StopRules, beam_search, generate, row_kernel
from decoders.adadec import AdaDec, AdaDecConfig
from decoders.contrast import ContrastConfig, SelectiveContrast
from decoders.draft import Drafter
from decoders.drafters import default_drafter
from decoders.guides import AllOf, Guide
from decoders.healing import HealingGuide
from decoders.loop import decode
from decoders.monitors import MonitorStats, NameChoice
from decoders.rerank import Reranker
from decoders.samples import sample_many
from decoders.streaming import TextSink
from decoders.vocabulary import Vocabulary

from . import languages
from . import scope as scopes
from .config import AssistantConfig
from .context import Document, RecentFiles, RepositoryContext
from .context.gate import Held, UnsureLine
from .documents import Cursor, encodable, to_offset
from .errors import GuidecodeError
from .examples import without_examples
from .functions import FunctionSlot, find_function_slot, find_function_slot_at
from .languages import Language
from .loading import LoadedModel, dtype_name, load_model
from .lookahead import answer_boundary, pause_place, statement_boundary
from .monitoring import Monitors
from .progress import Progress
from .prompt_window import PromptWindow
from .prompts import PromptBuilder


def _strip_leading(text: str, healed: str) -> str:
    """`text` without as much of the healed prompt text as it starts with."""
    n = 0
    while n < min(len(text), len(healed)) and text[n] == healed[n]:
        n += 1
    return text[n:]


def _without_leading(healed: str, sink: TextSink) -> TextSink:
    """A sink that drops the healed prompt text (already in the document) from the stream's start."""
    pending = [healed]

    def push(chunk: str) -> None:
        if pending[0]:
            stripped = _strip_leading(chunk, pending[0])
            matched = len(chunk) - len(stripped)
            pending[0] = pending[0][matched:] if matched == len(chunk) else ""
            chunk = stripped
        if chunk:
            sink(chunk)

    return push


def _all_of(*guides: Guide | None) -> Guide | None:
    present = tuple(g for g in guides if g is not None)
    return None if not present else present[0] if len(present) == 1 else AllOf(present)


class _Tokenizer(Protocol):
    """What this file asks of a loaded model's transformers tokenizer."""

    @property
    def eos_token_id(self) -> int | None: ...

    def __len__(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...


def _tokenizer(loaded: LoadedModel) -> _Tokenizer:
    return cast(_Tokenizer, loaded.tokenizer)  # LoadedModel keeps it as an `object`


def _check_same_tokenizer(target: LoadedModel, draft: LoadedModel) -> None:
    sample = "def f(x):\n    return {'a': [1, 2.5]}  # ü\n"
    ours, theirs = _tokenizer(target), _tokenizer(draft)
    if len(ours) != len(theirs) or ours.encode(sample) != theirs.encode(sample):
        raise GuidecodeError(
            f"the draft model {draft.name} does not share the tokenizer of {target.name}; "
            "pick a draft model of the same family (e.g. Qwen2.5-Coder-0.5B-Instruct for the 1.5B)"
        )


@dataclass
class Completion:
    text: str  # what to insert at the cursor
    model: str
    tokens: int
    seconds: float
    stop_reason: str
    scope: str  # "line" or "block"
    prompt_tokens: int
    reused_prompt_tokens: int = 0  # prompt tokens whose keys/values came from the previous request
    forward_passes: int = 0
    accepted_draft_tokens: int = 0  # tokens that speculation got for free (0 without it)
    decode_seconds: float = 0.0  # of `seconds`, the decoding loop (after the prefill), monitors' queries included
    monitored: bool = False  # whether static-analysis monitors guided this completion
    monitor_queries: int = 0  # questions asked of the language server
    monitor_rejections: int = 0  # chosen tokens a monitor turned down (the model chose again)
    decided_steps: int = 0  # with reranking: the steps its entropy gate saw
    paused_steps: int = 0  # of those, the uncertain ones decided by looking ahead
    context_tokens: int = 0  # of prompt_tokens, the repository context's (assistant/context/)
    context_retried: bool = False  # written again with the context after an unsure first line without it

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict:
        """What the CLI's --json prints for a completion."""
        return {
            "completion": self.text,
            "model": self.model,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 4),
            "tokens_per_second": round(self.tokens_per_second, 2),
            "forward_passes": self.forward_passes,
            "accepted_draft_tokens": self.accepted_draft_tokens,
            "monitored": self.monitored,
            "monitor_queries": self.monitor_queries,
            "monitor_rejections": self.monitor_rejections,
            "decided_steps": self.decided_steps,
            "paused_steps": self.paused_steps,
        }


@dataclass
class GeneratedFunction:
    function: str  # the whole function: signature, docstring and the new body
    body: str
    name: str
    completion: Completion
    replaced: tuple[int, int]  # character offsets in the input of the text that "\n" + body replaces

    def to_json(self) -> dict:
        """What the CLI's --json prints for a generated function."""
        return {"function": self.function, "body": self.body, "name": self.name, **self.completion.to_json()}


def _with_body(slot: FunctionSlot, completion: Completion) -> GeneratedFunction:
    body = slot.body(completion.text)
    return GeneratedFunction(slot.head + body, body, slot.name, completion, slot.replaced)


@dataclass
class Request:
    """A completion request up to decoding: what `complete` and `sample` share."""

    start: float  # perf_counter at the request's start
    prefix: str  # the document before the cursor
    suffix: str
    line_start: int  # offset of the cursor's line in the document
    scope: scopes.Scope
    prompt: list[int]
    healed: str  # the prefix's end the model rewrites ("" if none)
    session: Session  # over the prompt
    guide: Guide | None
    stop: StopRules
    stats: MonitorStats | None  # the monitors' statistics, when they guide
    setup: float  # seconds waiting on the monitors' first answer
    context: list[int]  # the repository context's tokens, in `prompt` ([] when off)

    def written(self, text: str, cut_off: bool = False) -> str:
        """Generated text as the completion to insert: healing's rewrite dropped, the scope's end
        applied (`cut_off`: the token budget ended it)."""
        return scopes.finish(_strip_leading(text, self.healed), self.scope, cut_off)


class Assistant:
    def __init__(self, loaded: LoadedModel, config: AssistantConfig, draft: LoadedModel | None = None):
        self.loaded = loaded
        self.draft = draft
        self.config = config
        self.engine = Engine(loaded.model)
        self.prompts = PromptBuilder.for_tokenizer(loaded.tokenizer)
        self.vocabulary = Vocabulary.from_tokenizer(loaded.tokenizer)  # ~1 s for 150k tokens, once
        self.window = PromptWindow(self.prompts, self.vocabulary.texts, config.max_prompt_tokens, config.suffix_share)
        # The previous request's session, one with repository context and one without (a request
        # may write both): consecutive requests share most of their prompt, whose keys and values
        # are reused. One generation at a time: an Assistant is not thread-safe.
        self._previous: dict[bool, Session] = {}
        self._drafter: Drafter | None = None  # built on first use; token recycling's table lives here
        self.speculation_note = ""  # why speculation is off although asked for, if it is
        self.monitors = Monitors(self.vocabulary, config.monitors)

    def forget(self) -> None:
        """Drop the kept sessions: the next request prefills its whole prompt. A prefix's keys and
        values reused from an earlier request can differ in the last bits from a whole prefill's
        (another pass size), so an evaluation calls this before each task: a task's answer then
        never depends on which task its process ran before it."""
        self._previous.clear()

    @property
    def speculating(self) -> bool:
        """Whether completions are speculative: asked for, and the engine verifies bit-exactly here
        (checked once by running the model, decoders/invariant.py)."""
        if not self.config.speculation:
            return False
        if not self.engine.exact:
            self.speculation_note = f"speculation is off, since it could change the output: {self.engine.why_inexact}"
            return False
        return True

    def drafter(self) -> Drafter | None:
        if not self.speculating:
            return None
        if self._drafter is None:
            draft_engine = Engine(self.draft.model) if self.draft is not None else None
            self._drafter = default_drafter(draft_engine)
        return self._drafter

    @classmethod
    def load(cls, config: AssistantConfig = AssistantConfig(), progress: Progress | None = None) -> Assistant:
        loaded = load_model(config.model, config.dtype, config.device, config.allow_download, progress, config.weights)
        draft = None
        if config.draft_model and config.speculation:
            draft = load_model(config.draft_model, config.dtype, config.device, config.allow_download, progress, config.weights)
            _check_same_tokenizer(loaded, draft)
        with (progress or Progress.silent()).phase("loading the decoding kernel (compiled on first use, ~15 s)"):
            row_kernel.load()  # the Engine would, silently; a failed build is logged and decoding goes on without it
        return cls(loaded, config, draft)

    @property
    def description(self) -> str:
        weights = "quantized" if self.loaded.quantized else dtype_name(self.loaded.dtype)
        return f"{self.loaded.name} ({weights}, {self.loaded.device.type})"

    def complete(
        self,
        text: str,
        cursor: Cursor,
        max_new_tokens: int | None = None,
        guide: Guide | None = None,
        cancel: CancelFlag | None = None,
        on_text: TextSink | None = None,
        workspace: str | Path | None = None,
        path: str | Path | None = None,
        language: str | None = None,
        recent: RecentFiles | None = None,
        next_line: bool = False,
    ) -> Completion:
        """The text to insert at `cursor` (a character offset, or a 0-based (line, column)).

        With a `workspace` (a project folder), monitors guide the completion through a language
        server over that folder; `path` is where the document lives (it is never read or written);
        `language` is an editor's language id for it (else the file name tells, see languages.py).
        With a `path`, the prompt starts with repository context (config.context_tokens): the
        signatures of the names used near the cursor, defined in the workspace's other files, and
        chunks of the `recent` files like the code around the cursor. `next_line`: at the end of a
        line, write the line after it (with the newline and indentation before it), and only that
        line, as the suggestion that follows an accepted one.

        With `config.context_when` "unsure", the completion is first written without the context,
        and written again with it only if a step of its first line was unsure (context/gate.py)."""
        args = (text, cursor, max_new_tokens, guide, cancel, workspace, path, language, recent, next_line)
        gate = self._context_gate(path)
        if gate is None:
            return self._complete(self.prepare(*args), cancel, on_text)
        first = self._complete(self.prepare(*args, with_context=False), cancel, on_text, gate)
        if not gate.unsure or first.stop_reason == "cancelled":
            return first
        again = self._complete(self.prepare(*args), cancel, on_text)
        return replace(again, seconds=first.seconds + again.seconds, context_retried=True)

    def _complete(self, request: Request | Completion, cancel: CancelFlag | None, on_text: TextSink | None, gate: UnsureLine | None = None) -> Completion:
        """Decode a prepared request; with a `gate`, its text streams only once the gate let it."""
        if isinstance(request, Completion):
            return request
        reranker = self._reranker(request)
        healed = request.healed
        sink = _without_leading(healed, on_text) if on_text and healed else on_text
        held = Held(gate, sink) if gate is not None and sink is not None else None
        stop = replace(request.stop, predicates=(*request.stop.predicates, gate.stop)) if gate is not None else request.stop
        result = self._decode(request.session, stop, request.guide, cancel, held or sink, reranker, gate.observe if gate else None)
        if held is not None:
            held.flush()
        if result.stop_reason != "cancelled":  # a cancelled session may hold a half-written cache
            self._previous[bool(request.context)] = request.session
        return self.completion_for(request, result, reranker)

    def _context_gate(self, path: str | Path | None) -> UnsureLine | None:
        """The gate of a completion that writes without the repository context first; None where
        the context is off, always used, or the decoder reports no steps (beam search)."""
        config = self.config
        if config.context_tokens <= 0 or path is None or config.context_when != "unsure" or config.beam_width > 1:
            return None
        return UnsureLine(config.context_confidence)

    def sample(
        self,
        text: str,
        cursor: Cursor,
        seeds: list[int],
        max_new_tokens: int | None = None,
        guide: Guide | None = None,
        cancel: CancelFlag | None = None,
        workspace: str | Path | None = None,
        path: str | Path | None = None,
        language: str | None = None,
        recent: RecentFiles | None = None,
    ) -> list[Completion]:
        """One sampled completion at `cursor` per seed (the config's temperature and top_p), all
        decoded side by side: one forward pass per step for all (decoders/samples.py). Each is
        what `complete` without speculation would draw with that seed; each one's `seconds` is
        the whole batch's."""
        if self.config.temperature <= 0:
            raise GuidecodeError("sampling several completions needs a temperature above 0 (--temperature)")
        if self.config.beam_width > 1 or self.config.rerank.enabled:
            raise GuidecodeError("sampling several completions cannot be combined with beam search or reranking")
        request = self.prepare(text, cursor, max_new_tokens, guide, cancel, workspace, path, language, recent)
        if isinstance(request, Completion):
            return [request] * len(seeds)
        samplings = [SamplingConfig(self.config.temperature, self.config.top_p, seed) for seed in seeds]
        results = sample_many(self.engine, request.session, self.loaded.tokenizer, samplings, request.stop, request.guide, cancel)
        self._previous[bool(request.context)] = request.session  # left as it was: only a scratch fork of it was written
        return [self.completion_for(request, result, None) for result in results]

    def prepare(
        self,
        text: str,
        cursor: Cursor,
        max_new_tokens: int | None,
        guide: Guide | None,
        cancel: CancelFlag | None,
        workspace: str | Path | None,
        path: str | Path | None,
        language_id: str | None = None,
        recent: RecentFiles | None = None,
        next_line: bool = False,
        with_context: bool = True,
    ) -> Request | Completion:
        """Everything before decoding: scope, prompt (with its repository context unless not
        `with_context`), prefill and guides; a cancelled Completion if the prefill was cancelled."""
        start = time.perf_counter()
        text = encodable(text)
        offset = to_offset(text, cursor)
        language = languages.detect(path, language_id)
        scope = scopes.decide(text, offset, language)
        prompt, healed = self.window.build(text[:offset], text[offset:], heal=self.config.healing)
        where = (workspace, path, text[: offset - len(healed)], text[offset:], language)
        # The context asks the language server before the monitors' first question does: the
        # prefill waits on the context, and hides the monitors' answer.
        context = self._repository_context(*where, recent) if with_context else []
        prompt = self._context.insert(prompt, context) if context else prompt
        self.monitors.prefetch(*where)  # the language server answers while the prompt is read
        keep = partial(self._keep_partial, bool(context))
        session = self.engine.prefill(prompt, reuse=self._previous.get(bool(context)), chunk=self.config.prefill_chunk, cancel=cancel, on_partial=keep)
        if session is None:
            elapsed = time.perf_counter() - start
            return Completion("", self.loaded.name, 0, elapsed, "cancelled", scope.kind.value, len(prompt), context_tokens=len(context))
        setup = time.perf_counter()
        monitored = self.monitors.guide_for(*where)
        setup = time.perf_counter() - setup  # what is left of the monitors' first question counts as decoding
        monitor, stats = monitored if monitored else (None, None)
        guide = _all_of(guide, monitor, HealingGuide(self.vocabulary, healed) if healed else None)
        stop = self._stop_rules(scope, max_new_tokens or self.config.max_new_tokens, next_line, healed)
        line_start = text.rfind("\n", 0, offset) + 1
        return Request(start, text[:offset], text[offset:], line_start, scope, prompt, healed, session, guide, stop, stats, setup, context)

    @cached_property  # built on the first request with context: it reads the vocabulary
    def _context(self) -> RepositoryContext:
        return RepositoryContext(self.prompts)

    def _repository_context(
        self, workspace: str | Path | None, path: str | Path | None, prefix: str, suffix: str, language: Language, recent: RecentFiles | None
    ) -> list[int]:
        """The repository context's tokens for the document at `path` (`prefix` + `suffix`, as the
        monitors show it to the language server); [] when it is off or the document has no path."""
        budget = self.config.context_tokens
        if budget <= 0 or path is None or str(path) == "-":
            return []
        root = Path(workspace).resolve() if workspace is not None else None
        document = Document(Path(path).resolve(), prefix + suffix, len(prefix), language, root)
        analysis = self.monitors.analysis(root, language) if root is not None else None
        return self._context.tokens(document, budget, analysis, recent if self.config.context_recent else None)

    def settled_context(self, text: str, cursor: Cursor, workspace: str | Path, path: str | Path, language_id: str | None = None, rounds: int = 3) -> list[int]:
        """The repository context's tokens at `cursor` once the language server has answered what
        it will: the context requests typed earlier in the file would have gathered (each request
        waits for the server only within its deadline, and later ones ask what it left out)."""
        offset = to_offset(encodable(text), cursor)
        where = (workspace, path, text[:offset], text[offset:], languages.detect(path, language_id), None)
        context = self._repository_context(*where)
        for _ in range(rounds - 1):
            again = self._repository_context(*where)
            if again == context:
                break
            context = again
        return context

    def completion_for(self, request: Request, result: GenerationResult, reranker: Reranker | None) -> Completion:
        stats = request.stats
        return Completion(
            text=request.written(result.text, result.stop_reason == "max_tokens"),
            model=self.loaded.name,
            tokens=len(result.tokens),
            seconds=time.perf_counter() - request.start,  # end to end: prompt, prefill and decoding
            stop_reason=result.stop_reason,
            scope=request.scope.kind.value,
            prompt_tokens=len(request.prompt),
            reused_prompt_tokens=request.session.reused,
            forward_passes=result.forward_passes,
            accepted_draft_tokens=result.accepted,
            decode_seconds=result.seconds + request.setup,
            monitored=stats is not None,
            monitor_queries=stats.queries if stats else 0,
            monitor_rejections=stats.refined if stats else 0,
            decided_steps=reranker.stats.steps if reranker else 0,
            paused_steps=reranker.stats.pauses if reranker else 0,
            context_tokens=len(request.context),
        )

    def _reranker(self, request: Request) -> Reranker | None:
        """The reranker for one completion: the monitors' whole-name choice where they run on a
        greedy completion, around the uncertainty reranker asked for (if any)."""
        inner = self._uncertainty_reranker(request)
        greedy = self.config.temperature <= 0 and self.config.beam_width <= 1
        if request.stats is None or not greedy or not self.monitors.config.choose_names:
            return inner
        return NameChoice(self.engine, self.prompts.encode, self.monitors.index.ends_identifier, inner)

    def _uncertainty_reranker(self, request: Request) -> Reranker | None:
        """AdaDec, or selective contrast with the prompt rebuilt without its examples (`healed`:
        the prefix's end the model rewrites), if asked for."""
        rerank = self.config.rerank
        if not rerank.enabled:
            return None
        prefix, suffix, healed, line_start = request.prefix, request.suffix, request.healed, request.line_start
        threshold = rerank.threshold if rerank.threshold is not None else self.learned_threshold()
        if rerank.method == "uscd":
            lame = without_examples(prefix)
            lame = lame[: len(lame) - len(healed)] if healed and lame.endswith(healed) else lame
            contrast = self.window.build(lame, suffix, heal=False)[0]
            contrast = self._context.insert(contrast, request.context) if request.context else contrast
            return SelectiveContrast(self.engine, ContrastConfig(threshold, rerank.alpha), contrast)
        line_prefix = prefix[line_start : len(prefix) - len(healed)]
        lookahead = request.stop.max_new_tokens if rerank.to_answer_end else rerank.lookahead
        config = AdaDecConfig(threshold, rerank.top_k, lookahead, rerank.scoring)
        boundary = answer_boundary(request.stop) if rerank.to_answer_end else statement_boundary(line_prefix) if rerank.syntactic else None
        place = pause_place(rerank.pause_at, line_prefix)
        tokenizer = self.loaded.tokenizer
        return AdaDec(self.engine, config, self.prompts.stop_token_ids, boundary, lambda ids: decode(tokenizer, ids), place)

    @cached_property  # the lookup hashes the vocabulary (~0.7 s): once per loaded model
    def _learned(self):
        from .thresholds import entropy_threshold

        return entropy_threshold(self.loaded.name, self.loaded.tokenizer)

    def learned_threshold(self) -> float:
        """The entropy threshold `guidecode calibrate` learned for this model and tokenizer."""
        found = self._learned
        if found is None:
            raise GuidecodeError(
                f"no entropy threshold has been learned for {self.loaded.name}: run `guidecode calibrate --model "
                f"{self.config.model}` once, or give one (--threshold)"
            )
        return found.value

    def _decode(
        self,
        session: Session,
        stop: StopRules,
        guide: Guide | None,
        cancel: CancelFlag | None,
        on_text: TextSink | None,
        reranker: Reranker | None = None,
        on_step: Callable[[torch.Tensor], None] | None = None,
    ) -> GenerationResult:
        """The one loop, or beam search when configured: beams take no drafter (speculation
        verifies a single sequence) and no sampling settings, and stream their text once, at the end."""
        if self.config.beam_width > 1:
            width = self.config.beam_width
            return beam_search(self.engine, session, self.loaded.tokenizer, stop, width, guide, cancel=cancel, on_text=on_text)
        sampling = SamplingConfig(self.config.temperature, self.config.top_p, self.config.seed)
        plugins = Plugins(sampling=sampling, stop=stop, guide=guide, reranker=reranker, drafter=self.drafter(), cancel=cancel, on_text=on_text, on_step=on_step)
        return generate(self.engine, session, self.loaded.tokenizer, plugins)

    def close(self) -> None:
        """Stop the language servers the monitors started."""
        self.monitors.close()

    def _keep_partial(self, with_context: bool, session: Session) -> None:
        # A request superseded during its prefill leaves the chunks it computed: while typing,
        # the next request shares that prefix, so they are not computed twice.
        self._previous[with_context] = session

    def generate_function(self, text: str, name: str | None = None, **kwargs) -> GeneratedFunction:
        """Write the body of a function from its signature and docstring (the named one, or the
        first whose body is empty, `...` or `pass`)."""
        return self._write_body(find_function_slot(text, name), **kwargs)

    def complete_function_at(self, text: str, offset: int, **kwargs) -> GeneratedFunction:
        """Write the body of the function around character `offset` (its body is replaced)."""
        return self._write_body(find_function_slot_at(text, offset), **kwargs)

    def sample_function(self, text: str, seeds: list[int], name: str | None = None, **kwargs) -> list[GeneratedFunction]:
        """Several sampled bodies of a function (as `generate_function` finds it), one per seed,
        decoded side by side (see `sample`)."""
        slot = find_function_slot(text, name)
        return [_with_body(slot, c) for c in self.sample(slot.document, slot.cursor, seeds, **kwargs)]

    def _write_body(self, slot: FunctionSlot, **kwargs) -> GeneratedFunction:
        return _with_body(slot, self.complete(slot.document, slot.cursor, **kwargs))

    def _stop_rules(self, scope: scopes.Scope, max_new_tokens: int, next_line: bool = False, healed: str = "") -> StopRules:
        eos = self.prompts.stop_token_ids
        if next_line and not scope.line_suffix.strip():
            # One line, even where a block opens: it streams as it is written, and the next
            # accept asks for the line after it. The healed text is the cursor's line, not the next.
            after = len(healed)
            return StopRules(max_new_tokens, eos, predicates=(lambda text: scopes.ends_the_next_line(text, after),), predicate_reach=0)
        if scope.kind is scopes.ScopeKind.LINE:
            inside = (scopes.closes(scope),) if scope.closer else ()
            inside += (scopes.closes_unopened(scope),) if scopes.closes_the_line(scope) else ()
            # A line's rules cut at most a closer's length back from where they last looked: the
            # line streams as it is written (the server shows it before it ends).
            return StopRules(max_new_tokens, eos, stop_strings=("\n",), predicates=inside, predicate_reach=2)
        predicates = (scopes.block_end(scope), scopes.repeats_next_line(scope))
        return StopRules(max_new_tokens, eos, predicates=predicates)

    def warm_up(self) -> None:
        """Run the shapes a first request runs (a prefill chunk, a decoding step) once, so that
        kernel set-up is paid at load time rather than by the user's first completion."""
        chunk = self.config.prefill_chunk or 128
        eos = _tokenizer(self.loaded).eos_token_id or 0
        session = self.engine.prefill([eos] * (chunk + 1), chunk=chunk)
        assert session is not None  # a prefill without `cancel` runs to the end
        self.engine.step(session, eos)
        self.drafter()  # runs the exactness probe (a few forward passes) now rather than on a request
