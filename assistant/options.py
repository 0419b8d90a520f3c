"""Every user-facing option, declared once: name, type, default, range or choices, description and
the front ends that offer it.

The CLI's flags (`assistant/cli/flags.py`), the language server's option parsing and its messages
(`lsp/options.py`), the VS Code extension's settings (`vscode-ext/package.json` and
`vscode-ext/src/options.generated.ts`, written by `python -m assistant.options_files`), the
defaults of `AssistantConfig` and docs/configuration.md all derive from `OPTIONS`; adding an option
is one entry here (plus the code that uses its value). This module imports nothing heavy: the
server reads it before torch loads.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from .embedded import DEFAULT_MODEL, EMBEDDED

Scope = Literal["cli", "editor"]
BOTH: frozenset[Scope] = frozenset(("cli", "editor"))
CLI: frozenset[Scope] = frozenset(("cli",))
EDITOR: frozenset[Scope] = frozenset(("editor",))

MONITOR_NAMES = ("dereference", "imports", "arguments")
LANGUAGE_SERVERS = ("jedi", "pyright")
RERANKERS = ("adadec", "uscd")
DTYPES = ("auto", "bfloat16", "float16", "float32")
DTYPE_ALIASES = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}
WEIGHTS = ("auto", "quantized", "dense")
DEVICES = ("auto", "cpu", "cuda")
SCORINGS = ("mean", "sum", "min")

_SAME = object()  # an editor default that is the CLI's


@dataclass(frozen=True)
class Option:
    """One option. `name` is snake_case; the CLI flag is `--name` with dashes (`--no-name` for a
    boolean that defaults to on) and the editor's key is its camelCase, unless `flag` or
    `editor_key` says otherwise (an editor key with a dot nests: `guides.healing`)."""

    name: str
    kind: type  # bool, int, float or str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    choice_help: tuple[str, ...] = ()  # one line per choice, for the editor's settings UI
    low: float | None = None  # inclusive range of a number
    high: float | None = None
    unit: str = ""  # what a number counts ("seconds"), for messages
    nullable: bool = False  # None is a value ("not set": the CLI's default only)
    scopes: frozenset[Scope] = BOTH
    editor_default: Any = _SAME
    editor_key: str | None = None
    flag: str | None = None
    metavar: str | None = None
    reload: bool = False  # the server loads the model again when it changes
    # The AssistantConfig field it sets ("rerank.top_k": a field of a nested config); None: the
    # front end reads it itself (the search's, the editor's debounce) or config.from_options does.
    target: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # accepted spellings of a choice

    @property
    def key(self) -> str:
        """The editor's key below the `guidecode` section."""
        if self.editor_key:
            return self.editor_key
        head, *rest = self.name.split("_")
        return head + "".join(part.capitalize() for part in rest)

    @property
    def cli_flag(self) -> str:
        if self.flag:
            return self.flag
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind is bool and self.default is True else f"--{dashed}"

    def default_in(self, scope: Scope) -> Any:
        return self.default if scope == "cli" or self.editor_default is _SAME else self.editor_default

    def normalize(self, value: Any) -> Any:
        """The canonical spelling of a valid value (an alias's choice; an int where a float is asked)."""
        if self.choices and isinstance(value, str):
            lowered = value.strip().lower()
            return self.aliases.get(lowered, lowered)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value

    def check(self, value: Any) -> str | None:
        """Why `value` is not valid for this option, or None."""
        if value is None:
            return None if self.nullable else "must be set"
        if self.kind is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if self.kind is str:
            return self._check_text(value)
        return self._check_number(value)

    def _check_text(self, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return "must be a non-empty string"
        if self.choices and self.normalize(value) not in self.choices:
            return f"must be one of {', '.join(self.choices)}"
        return None

    def _check_number(self, value: Any) -> str | None:
        integral = self.kind is int
        typed = not isinstance(value, bool) and (isinstance(value, int) if integral else isinstance(value, (int, float)))
        in_range = typed and (self.low is None or value >= self.low) and (self.high is None or value <= self.high)
        return None if in_range else f"must be {self.describe_range()}"

    def describe_range(self) -> str:
        noun = "an integer" if self.kind is int else "a number"
        unit = f" of {self.unit}" if self.unit else ""
        if self.low is not None and self.high is not None:
            return f"{noun}{unit} from {_number(self.low)} to {_number(self.high)}"
        if self.low is not None:
            return f"{noun}{unit} of at least {_number(self.low)}"
        return f"{noun}{unit}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


OPTIONS: tuple[Option, ...] = (
    # The model and how it is held (the server reloads when one of these changes).
    Option(
        "model",
        str,
        DEFAULT_MODEL,
        f"Model to load: an embedded name ({', '.join(EMBEDDED)}), a local directory, a .gguf file or a hub id.",
        reload=True,
        target="model",
    ),
    Option(
        "dtype",
        str,
        "auto",
        "Weight and activation precision of the model.",
        choices=DTYPES,
        choice_help=(
            "bfloat16 where the CPU or GPU supports it, else float32.",
            "Half the memory of float32; needs hardware support to be fast.",
            "Half precision; mainly for GPUs.",
            "Full precision: slowest, most memory.",
        ),
        aliases=DTYPE_ALIASES,
        reload=True,
        target="dtype",
    ),
    Option(
        "device",
        str,
        "auto",
        "Where the model runs.",
        choices=DEVICES,
        choice_help=("A CUDA GPU when one is present, else the CPU.", "Always the CPU.", "The first CUDA GPU."),
        reload=True,
        target="device",
    ),
    Option(
        "weights",
        str,
        "auto",
        "How the model's linear layers hold their weights.",
        choices=WEIGHTS,
        choice_help=(
            "A GGUF model's own quantized values on a CPU (the embedded models), else dense.",
            "8-bit codes per block of 32 on a CPU; dense models are requantized.",
            "Float weights of the chosen dtype: about twice the bytes a token reads.",
        ),
        reload=True,
        target="weights",
    ),
    Option("allow_download", bool, False, "Fetch hub models missing from the local cache (off: offline only).", scopes=CLI, target="allow_download"),
    # Decoding.
    Option("max_tokens", int, 128, "Most tokens one completion may generate.", low=1, high=8192, editor_default=64, target="max_new_tokens"),
    Option(
        "max_prompt_tokens",
        int,
        2048,
        "The prompt's budget in tokens around the cursor; fewer tokens give a faster first answer.",
        low=16,
        high=32768,
        editor_default=1024,
        target="max_prompt_tokens",
    ),
    Option("temperature", float, 0.0, "Sampling temperature; 0 is greedy.", low=0, high=2, scopes=CLI, target="temperature"),
    Option("top_p", float, 1.0, "Sampling: keep the smallest set of tokens whose probability reaches this.", low=0.01, high=1, scopes=CLI, target="top_p"),
    Option("seed", int, None, "Sampling seed (not set: a fresh one each run).", nullable=True, scopes=CLI, target="seed"),
    Option("beam_width", int, 1, "Beam search with this many beams; 1 is off.", low=1, high=64, scopes=CLI, target="beam_width"),
    Option(
        "speculation",
        bool,
        True,
        "Lossless speculative decoding: tokens are drafted cheaply and verified by the model, giving the same output faster.",
        target="speculation",
    ),
    Option(
        "draft_model",
        str,
        None,
        "A smaller model with the same tokenizer that drafts too (e.g. 0.5b for the 1.5b model).",
        nullable=True,
        scopes=CLI,
        reload=True,
        target="draft_model",
    ),
    # Repository context (assistant/context/).
    Option(
        "context_tokens",
        int,
        0,
        "Repository context before the prompt, in tokens at most (0: none): the signatures of the symbols used near the cursor "
        "(found by the language server) and chunks of recently used files like the code around the cursor; 384 is a good size. "
        "Off by default: where the model is unsure of a line (see context_when) it costs a second completion (docs/context.md).",
        low=0,
        high=8192,
        editor_key="context.tokens",
        target="context_tokens",
    ),
    Option(
        "context_when",
        str,
        "unsure",
        "Repository context: in every prompt, or only where the completion written without it was unsure of its first line "
        "(a step below the confidence threshold); then it is written again with the context.",
        choices=("unsure", "always"),
        choice_help=(
            "Write without the context first; write again with it where a step of the first line was unsure.",
            "Put the context in every prompt.",
        ),
        editor_key="context.when",
        target="context_when",
    ),
    Option(
        "context_confidence",
        float,
        0.3,
        "Repository context when unsure: a step whose most likely token has less than this probability is unsure.",
        low=0.01,
        high=1,
        editor_key="context.confidence",
        target="context_confidence",
    ),
    Option(
        "context_recent",
        bool,
        True,
        "Repository context: include chunks of the recently opened files most like the code around the cursor.",
        scopes=EDITOR,
        editor_key="context.recent",
        target="context_recent",
    ),
    # Guides.
    Option(
        "healing",
        bool,
        True,
        "Token healing: regenerate the partial token before the cursor so completions continue mid-word correctly.",
        editor_key="guides.healing",
        target="healing",
    ),
    Option(
        "monitors",
        bool,
        True,
        "Monitor-guided decoding: inside a workspace, a language server over the project says which members and imports exist, and completions only use those.",
        editor_key="guides.monitors",
    ),
    Option(
        "name_choice",
        bool,
        True,
        "With the monitors: after `obj.`, choose among the members the language server lists by the model's probability of each whole name, not token by token.",
        editor_key="guides.nameChoice",
        target="monitors.choose_names",
    ),
    Option(
        "language_server",
        str,
        "jedi",
        "The static analysis behind the monitors: jedi-language-server, or basedpyright (type-aware; install guidecode[pyright]).",
        choices=LANGUAGE_SERVERS,
        target="monitors.language_server",
    ),
    # Uncertainty-adaptive decoding.
    Option(
        "adadec",
        bool,
        False,
        "Uncertainty-adaptive reranking (AdaDec): at steps where the model is unsure, look ahead from its top candidates and keep the best. Better code, slower completions.",
    ),
    Option("uscd", bool, False, "Selective contrast (USCD): uncertain steps subtract what the model says without the docstring's examples.", scopes=CLI),
    Option(
        "threshold",
        float,
        None,
        "Entropy in nats above which a step is uncertain (not set: the one `guidecode calibrate` learned for the model).",
        low=0,
        nullable=True,
        scopes=CLI,
        target="rerank.threshold",
    ),
    Option("top_k", int, 3, "AdaDec: candidates looked ahead from at an uncertain step.", low=1, high=32, scopes=CLI, target="rerank.top_k"),
    Option(
        "lookahead",
        int,
        None,
        "AdaDec: tokens per candidate (not set: 5; with the syntactic lookahead, at most 16).",
        low=1,
        high=64,
        nullable=True,
        scopes=CLI,
    ),
    Option("scoring", str, "mean", "AdaDec: how a lookahead's log-probabilities score.", choices=SCORINGS, scopes=CLI, target="rerank.scoring"),
    Option("syntactic_lookahead", bool, False, "AdaDec: look ahead to the end of a statement.", scopes=CLI, target="rerank.syntactic"),
    Option("alpha", float, 0.5, "USCD: weight of the contrast.", low=0, high=4, scopes=CLI, target="rerank.alpha"),
    # Test-guided search (guidecode generate; the editor's Generate Function Body).
    Option(
        "search",
        bool,
        True,
        "Test-guided search (generate, and the editor's Generate Function Body): when there are tests (the docstring's examples, or a test file), search for a body that passes them, running each candidate in a sandbox.",
    ),
    Option(
        "search_rollouts",
        int,
        16,
        "Most programs the test-guided search writes before proposing the best one (it stops as soon as one passes every test).",
        low=1,
        high=256,
        editor_default=8,
        flag="--rollouts",
    ),
    Option(
        "search_seconds",
        float,
        None,
        "Most seconds the test-guided search runs before proposing the best program so far (not set: no limit).",
        low=1,
        high=3600,
        unit="seconds",
        nullable=True,
        editor_default=60.0,
        flag="--time-budget",
        metavar="SECONDS",
    ),
    Option(
        "search_temperature",
        float,
        0.8,
        "Sampling temperature of the search's programs after the first (which is always the greedy one); 0 makes them greedy too.",
        low=0,
        high=2,
        flag="--rollout-temperature",
        metavar="T",
    ),
    # The editor's own.
    Option(
        "debounce_ms",
        int,
        50,
        "Most milliseconds the server waits after a keystroke before it starts an inline completion; while the user types fast it waits half their usual gap between keystrokes, if that is shorter.",
        low=0,
        high=5000,
        scopes=EDITOR,
    ),
)

OPTION: dict[str, Option] = {option.name: option for option in OPTIONS}


def in_scope(scope: Scope) -> tuple[Option, ...]:
    return tuple(option for option in OPTIONS if scope in option.scopes)


def defaults(scope: Scope) -> dict[str, Any]:
    return {option.name: option.default_in(scope) for option in in_scope(scope)}


def check_all(values: dict[str, Any], names: Iterable[str]) -> list[str]:
    """`name why, got value` for each of `names` whose value in `values` is not valid."""
    return [f"{name} {why}, got {values[name]!r}" for name in names if (why := OPTION[name].check(values[name])) is not None]
