"""Monitor-guided decoding tasks mined from TypeScript, JavaScript, C, C++ or Go source trees through
a language server, and a checker of member accesses through the same kind of server.

The counterpart of benchmarks/mgd_tasks.py (Python, jedi) for the languages whose analysis is a
language server (typescript-language-server, clangd, gopls; assistant/analysis). The tasks are the
same `MgdTask`s: the prompt is a file's text up to and including a member trigger, and the model
should write the member next.

A task is one member access of a source file (TypeScript/JavaScript `member_expression` `obj.m` or
`obj?.m`, C/C++ `field_expression` `a.m` or `p->m`, Go `selector_expression` `x.m`; tree-sitter
finds them) such that

- the file has one of the language's suffixes, is no larger than `MAX_FILE_BYTES` and reads as
  UTF-8; it is not a declaration or test file (`.d.ts`, `.spec.ts`, `_test.go`, ...), and the
  directories of mgd_tasks.SKIPPED_DIRS (tests, node_modules, build, dist, ...) and hidden
  directories are not walked;
- the access is read, not the left side of an assignment (`p->m = 1`, `x.m, y = ...`: assigning
  may create the member in JavaScript, and the rule is the Python miner's);
- its member name is an identifier that starts right after the trigger, and the trigger is not the
  first non-blank text of its line (no leading-dot continuation lines);
- decoders/brace_lexer.py, the lexer the monitors use, sees a trigger there (so not in a string or a
  comment, and after something it takes for an expression);
- the member name does not occur anywhere in the prompt as a whole word, comments and strings
  included, so the model cannot copy it from what it reads. This is the stand-in for the paper's
  "defined in another file": a language server here answers completions, not where a member is
  defined. Unlike the Python miner it keeps members of the language's own library (`Math.max`,
  `strconv.Itoa`, a libc struct's fields) when the prompt does not name them;
- the server lists the member among its completions right after the trigger, given only the prompt
  as the document's text (the rest of the file is not shown to it).

Choice is deterministic for a seed and a server that answers in time: files are shuffled with
`random.Random(seed)` and each file's accesses with a generator seeded by (seed, file), tried in that
order until `per_file` qualify (kept in source order); mining stops at `limit` tasks. A question
the server does not answer within the session's budget drops that access (`no_answer`), and a file
whose questions run over `FILE_BUDGET_S` is dropped (`skipped_slow`): on a loaded machine the tasks
may differ.

`check_accesses_lsp` classifies the member accesses of a completed text the way
`mgd_tasks.check_accesses` does with jedi: by what the server completes at each trigger, given only
the text before it. Use one session for mining and checking, and not the monitors' session: its
answers (cached for the session's life) are then independent of the decoding they judge.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol

from assistant.analysis import SERVERS, AnalysisConfig, AnalysisSession, Member, locate
from assistant.languages.grammars import parser_for
from decoders.brace_lexer import BraceLexer, Triggers

from .mgd_tasks import MAX_FILE_BYTES, SKIPPED_DIRS, AccessCheck, MgdTask

FILE_BUDGET_S = 20.0
# Generous budgets (seconds): a mining answer that misses its budget drops the access.
BUDGET_S, FIRST_BUDGET_S, START_TIMEOUT_S = 5.0, 30.0, 60.0


@dataclass(frozen=True)
class LspLanguage:
    id: str  # the LSP language id, as the assistant takes it
    server: str  # a name in assistant.analysis.SERVERS
    suffixes: tuple[str, ...]  # the files mined
    skipped_suffixes: tuple[str, ...]  # declaration and test files among them
    access: str  # tree-sitter's node type of a member access
    member_field: str  # the access's field holding the member name
    triggers: Triggers = Triggers()


LANGUAGES = {
    language.id: language
    for language in (
        LspLanguage(
            "typescript",
            "typescript",
            (".ts", ".mts", ".cts"),
            (".d.ts", ".d.mts", ".d.cts", ".spec.ts", ".test.ts"),
            "member_expression",
            "property",
        ),
        LspLanguage("javascript", "typescript", (".js", ".mjs", ".cjs"), (".min.js", ".spec.js", ".test.js"), "member_expression", "property"),
        LspLanguage("c", "clangd", (".c",), (), "field_expression", "field", Triggers(arrow=True)),
        LspLanguage("cpp", "clangd", (".cc", ".cpp", ".cxx", ".c++"), (), "field_expression", "field", Triggers(arrow=True, path=True)),
        LspLanguage("go", "gopls", (".go",), ("_test.go",), "selector_expression", "field"),
    )
}

_IDENTIFIER = re.compile(r"[^\W\d][\w$]*|\$[\w$]*")  # C, Go and JavaScript names ($ only in JavaScript, harmless elsewhere)
_MEMBER_AFTER = re.compile(r"[ \t]*(" + _IDENTIFIER.pattern + ")")


@dataclass(frozen=True)
class LspMiningReport:
    tasks: tuple[MgdTask, ...]
    files_total: int  # files of the language found under the walked directories
    files_analysed: int  # files whose accesses were looked at to the end (or to per_file)
    skipped_large: int
    skipped_unreadable: int  # not UTF-8
    skipped_slow: int
    candidates: int  # accesses that pass the syntactic rules, in the files analysed
    copyable: int  # of those, tried and dropped because the prompt names the member
    unlisted: int  # tried and dropped because the server's completions lack the member
    no_answer: int  # tried and dropped because the server gave no answer in time


class Completions(Protocol):
    """What mining and checking ask of a server: `AnalysisSession.completions`."""

    def completions(self, path: str | Path, text: str, offset: int) -> tuple[Member, ...] | None: ...


class Candidate(NamedTuple):
    after: int  # character offset right after the trigger, where the member starts
    member: str


# ---------------------------------------------------------------------------------------------
# Text: triggers and identifiers as the monitors' lexer reads them


def trigger_ends(code: str, triggers: Triggers = Triggers()) -> Iterator[int]:
    """Offsets right after each member trigger of `code` (outside strings and comments)."""
    lexer = BraceLexer(triggers)
    for i, c in enumerate(code):
        if lexer.feed(c) is not None:
            yield i + 1


def code_identifiers(text: str, triggers: Triggers = Triggers()) -> list[str]:
    """The identifiers of `text` in order, outside strings and comments (keywords included:
    both sides of a comparison are read the same way)."""
    lexer = BraceLexer(triggers)
    words: list[str] = []
    word = ""
    for c in text + " ":
        if lexer.mode == "code" and (c.isalnum() or c in "_$"):
            word += c
        else:
            if word and _IDENTIFIER.fullmatch(word):
                words.append(word)
            word = ""
        lexer.feed(c)
    return words


def names_word(text: str, name: str) -> bool:
    """Whether `name` occurs in `text` as a whole word."""
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", text) is not None


def member_accesses_lsp(code: str, start: int, triggers: Triggers = Triggers()) -> list[Candidate]:
    """(offset right after the trigger, member) for each trigger whose last character is at or
    after `start` and that is followed (after blanks) by an identifier."""
    found = []
    for end in trigger_ends(code, triggers):
        if end - 1 >= start:
            match = _MEMBER_AFTER.match(code, end)
            if match:
                found.append(Candidate(end, match.group(1)))
    return found


# ---------------------------------------------------------------------------------------------
# Candidates: tree-sitter's accesses that pass the syntactic rules


def _char_offsets(data: bytes, text: str) -> Callable[[int], int]:
    """A UTF-8 byte offset of `data` (text's encoding) to a character offset."""
    if len(data) == len(text):
        return lambda byte: byte
    table = [0] * (len(data) + 1)
    byte = 0
    for i, c in enumerate(text):
        width = len(c.encode("utf-8", "surrogatepass"))
        table[byte : byte + width] = [i] * width
        byte += width
    table[byte] = len(text)
    return table.__getitem__


def _is_assigned(node) -> bool:
    """Whether an access node is (in) the left side of an assignment."""
    parent = node.parent
    if parent is not None and parent.type == "expression_list":  # Go: `x.a, y = ...`
        node, parent = parent, parent.parent
    if parent is None or "assignment" not in parent.type:
        return False
    left = parent.child_by_field_name("left")
    return left is not None and left.id == node.id


def candidates(text: str, language: LspLanguage) -> list[Candidate]:
    """The accesses of `text` that pass the syntactic rules of the module docstring, in source order."""
    parser = parser_for(language.id)
    assert parser is not None, f"no tree-sitter grammar for {language.id}"
    data = text.encode("utf-8", "surrogatepass")
    char = _char_offsets(data, text)
    triggers = set(trigger_ends(text, language.triggers))
    found = []
    stack = [parser.parse(data).root_node]
    while stack:
        node = stack.pop()
        stack.extend(node.children)
        if node.type != language.access or _is_assigned(node):
            continue
        member = node.child_by_field_name(language.member_field)
        if member is None:
            continue
        after = char(member.start_byte)
        name = text[after : char(member.end_byte)]
        line_start = text.rfind("\n", 0, after) + 1
        trigger_start = after - (2 if text.startswith(("->", "?."), after - 2) else 1)
        if after in triggers and _IDENTIFIER.fullmatch(name) and text[line_start:trigger_start].strip():
            found.append(Candidate(after, name))
    return sorted(found)


# ---------------------------------------------------------------------------------------------
# The server


def open_session(root: str | Path, language: LspLanguage) -> AnalysisSession:
    """A started session of the language's server over `root`, with the mining budgets; check
    `available` (a missing server makes it unavailable, it does not raise)."""
    config = AnalysisConfig(server=language.server, budget_s=BUDGET_S, first_budget_s=FIRST_BUDGET_S, start_timeout_s=START_TIMEOUT_S)
    session = AnalysisSession(root, config)
    session.start()
    return session


def listed(session: Completions, path: str, text: str, offset: int) -> set[str] | None:
    """The member names the server completes at `offset` of `text`; None without an answer."""
    members = session.completions(path, text, offset)
    return None if members is None else {member.name for member in members}


def check_accesses_lsp(session: Completions, path: str, code: str, start: int, triggers: Triggers = Triggers()) -> AccessCheck:
    """Classify each member access of `code` whose trigger ends at or after `start` by what the
    server completes right after its trigger, given only the code before it. `path`
    (root-relative) tells the server where the code lives; `triggers`: the language's."""
    counts = {"existing": 0, "missing": 0, "unknown": 0}
    for after, member in member_accesses_lsp(code, start, triggers):
        names = listed(session, path, code[:after], after)
        kind = "unknown" if not names else "existing" if member in names else "missing"
        counts[kind] += 1
    return AccessCheck(**counts)


def server_version(server: str) -> str:
    """The server's name and version, as cheaply as it tells: npm's package.json files beside it,
    else its --version line (gopls: `gopls version`), with the Debian package's version for a
    binary a Debian package installed (Debian's gopls calls itself "master")."""
    found = locate(server)
    if found is None:
        return f"{SERVERS[server].executable} (not found)"
    binary = Path(found[0])
    spec = SERVERS[server]
    if spec.npm_packages:
        modules = binary.parent.parent  # node_modules/.bin/<executable>
        names = [package.rsplit("@", 1)[0] for package in spec.npm_packages]
        return ", ".join(f"{name} {_package_version(modules / name / 'package.json')}" for name in names)
    try:
        done = subprocess.run([str(binary), "version" if server == "gopls" else "--version"], capture_output=True, text=True, timeout=30)
        line = next((line.strip() for line in (done.stdout or done.stderr).splitlines() if line.strip()), "")
    except (OSError, subprocess.TimeoutExpired):
        line = ""
    debian = _debian_package(binary) if found[1] == "PATH" else None
    return (line or f"{spec.executable} (version unknown)") + (f" (Debian {debian})" if debian else "")


def _debian_package(binary: Path) -> str | None:
    """'<package> <version>' of the Debian package that installed `binary`, if dpkg knows one."""
    try:
        owner = subprocess.run(["dpkg-query", "-S", str(binary)], capture_output=True, text=True, timeout=10)
        package = owner.stdout.split(":", 1)[0].strip() if owner.returncode == 0 else ""
        if not package:
            return None
        version = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return f"{package} {version.stdout.strip()}" if version.returncode == 0 and version.stdout.strip() else None


def _package_version(package_json: Path) -> str:
    try:
        return str(json.loads(package_json.read_text()).get("version", "?"))
    except (OSError, ValueError):
        return "?"


# ---------------------------------------------------------------------------------------------
# Mining


def source_files(root: Path, language: LspLanguage) -> list[Path]:
    """The language's files under `root` in sorted order, outside skipped and hidden directories."""
    files = []
    for file in sorted(p for p in root.rglob("*") if p.suffix in language.suffixes and p.is_file()):
        parts = file.relative_to(root).parts[:-1]
        if file.name.endswith(language.skipped_suffixes) or any(part in SKIPPED_DIRS or part.startswith(".") for part in parts):
            continue
        files.append(file)
    return files


class _TooSlow(Exception):
    """A file's questions ran over its time budget."""


def _make_task(root: Path, rel: str, text: str, candidate: Candidate) -> MgdTask:
    line = text.count("\n", 0, candidate.after) + 1
    column = candidate.after - (text.rfind("\n", 0, candidate.after) + 1) + 1
    line_end = text.find("\n", candidate.after)
    return MgdTask(
        id=f"{root.name}/{rel}:{line}:{column}",
        path=rel,
        prompt=text[: candidate.after],
        member=candidate.member,
        rest_of_line=text[candidate.after : line_end if line_end >= 0 else len(text)],
        defined_in="",  # unknown: see the module docstring
    )


def _mine_file(
    session: Completions, root: Path, rel: str, text: str, language: LspLanguage, rng: random.Random, per_file: int, budget_s: float, counts: dict
) -> list[MgdTask]:
    found = candidates(text, language)
    counts["candidates"] += len(found)
    rng.shuffle(found)
    deadline = time.monotonic() + budget_s
    chosen = []
    for candidate in found:
        if len(chosen) == per_file:
            break
        prompt = text[: candidate.after]
        if names_word(prompt, candidate.member):
            counts["copyable"] += 1
            continue
        names = listed(session, rel, prompt, len(prompt))
        if time.monotonic() > deadline:
            raise _TooSlow(rel)
        if names is None:
            counts["no_answer"] += 1
        elif candidate.member not in names:
            counts["unlisted"] += 1
        else:
            chosen.append(candidate)
    return [_make_task(root, rel, text, candidate) for candidate in sorted(chosen)]


def mine_tree(
    root: str | Path,
    language: str,
    session: Completions,
    limit: int | None = None,
    seed: int = 0,
    per_file: int = 3,
    progress: Callable[[int, int], None] | None = None,
    file_budget_s: float = FILE_BUDGET_S,
) -> LspMiningReport:
    """Tasks of the `language` files under `root` (see the module docstring for the rules), asking
    `session` (its server, over `root`); `progress(files done, files total)` after each file."""
    if per_file < 1:
        raise ValueError(f"per_file must be at least 1, got {per_file}")
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    spec = LANGUAGES[language]
    tree = Path(root).resolve()
    files = source_files(tree, spec)
    random.Random(seed).shuffle(files)
    tasks: list[MgdTask] = []
    counts = dict.fromkeys(("large", "unreadable", "slow", "analysed", "candidates", "copyable", "unlisted", "no_answer"), 0)
    for done, file in enumerate(files, start=1):
        if limit is not None and len(tasks) >= limit:
            break
        rel = file.relative_to(tree).as_posix()
        text = _read(file) if file.stat().st_size <= MAX_FILE_BYTES else None
        if text is None:
            counts["large" if file.stat().st_size > MAX_FILE_BYTES else "unreadable"] += 1
        else:
            try:
                tasks += _mine_file(session, tree, rel, text, spec, random.Random(f"{seed}/{rel}"), per_file, file_budget_s, counts)
                counts["analysed"] += 1
            except _TooSlow:
                counts["slow"] += 1
        if progress is not None:
            progress(done, len(files))
    tasks = tasks[:limit] if limit is not None else tasks
    return LspMiningReport(
        tuple(tasks),
        len(files),
        counts["analysed"],
        counts["large"],
        counts["unreadable"],
        counts["slow"],
        counts["candidates"],
        counts["copyable"],
        counts["unlisted"],
        counts["no_answer"],
    )


def _read(file: Path) -> str | None:
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None
