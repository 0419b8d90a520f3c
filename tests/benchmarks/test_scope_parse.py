"""`guidecode bench scope`: which functions and lines become tasks, how a body is blanked, the
splice-and-parse check, the repeat check, and a run through a stand-in and through the tiny model.
Sources are inline; fetching is tested on a local tarball (no network)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import torch
from rich.console import Console

from assistant import Assistant, AssistantConfig
from assistant.assistant import Completion
from assistant.loading import LoadedModel
from benchmarks import scope_sources
from benchmarks.scope_parse import Task, as_json, block_tasks, check_block, check_line, default_out, line_tasks, pick, report, run, splice
from benchmarks.scope_sources import Fetched, Source, SourceFile, fetch, languages

GO = """\
package p

func Add(a, b int) int {
\tsum := a + b
\treturn sum
}

func one() int { return 1 }

func Short() {
\tpanic("x")
}

func Scale(xs []int, k int) []int {
\tout := make([]int, len(xs))
\tfor i, x := range xs {
\t\tout[i] = x * k
\t}
\treturn out
}
"""

RUST = """\
pub fn parse(text: &str) -> Result<u32, String> {
    let value = text.trim();
    value.parse::<u32>().map_err(|e| e.to_string())
}

impl Point {
    fn norm(&self) -> f64 {
        let sq = self.x * self.x + self.y * self.y;
        sq.sqrt()
    }
}
"""

TYPESCRIPT = """\
export function greet(name: string): string {
  const greeting = `hello ${name}`;
  return greeting;
}

class Counter {
  count = 0;
  increment(by: number): number {
    this.count += by;
    return this.count;
  }
}

export const twice = (x: number) => {
  const y = x * 2;
  return y;
};
"""

JAVA = """\
class Box {
    private int size;

    Box(int size) {
        this.size = size;
        check(size);
    }

    int area(int k) {
        int a = size * size;
        return a * k;
    }
}
"""

C = """\
static int add(int a, int b)
{
    int s = a + b;
    return s;
}

int *find(int *xs, int n, int x) {
    for (int i = 0; i < n; i++)
        if (xs[i] == x) return &xs[i];
    return 0;
}
"""

JAVASCRIPT = """\
app.init = function init() {
  this.cache = {};
  this.settings = {};
};
"""


def source_file(language: str, text: str, name: str) -> SourceFile:
    source = Source(language, "npm", "inline", "0.0.0", "*")
    return SourceFile(source, Path("/nowhere") / name, name, text)


def completed(task: Task, text: str, stop_reason: str = "stop") -> Completion:
    return Completion(text, "stand-in", len(text), 0.5, stop_reason, task.kind, 100)


@pytest.mark.parametrize(
    ("language", "text", "name", "functions"),
    [
        ("go", GO, "p.go", ["Add", "Scale"]),  # one-line and one-statement bodies are left out
        ("rust", RUST, "lib.rs", ["parse", "norm"]),
        ("typescript", TYPESCRIPT, "a.ts", ["greet", "increment", "twice"]),
        ("java", JAVA, "Box.java", ["Box", "area"]),
        ("c", C, "a.c", ["add", "find"]),
        ("javascript", JAVASCRIPT, "app.js", ["init"]),
    ],
)
def test_block_tasks_blank_each_qualifying_body_to_one_indented_line(language, text, name, functions):
    tasks = block_tasks(source_file(language, text, name))
    assert [t.name for t in tasks] == functions
    for task in tasks:
        before, after = task.text[: task.cursor], task.text[task.cursor :]
        header, indent = before.rsplit("\n", 1)
        assert header.rstrip().endswith("{") and indent.strip() == "" and indent
        assert after.startswith("\n") and after[1:].lstrip().startswith("}")
        assert splice(task, task.truth) == text  # the truth puts the file back as it was
        assert check_block(task, completed(task, task.truth)) == {
            "parses": True,
            "block_scope": True,
            "stopped_at_block_end": True,
            "wrote_past_block_end": False,
            "lines": task.truth.count("\n") + 1,
        }


def test_a_file_that_does_not_parse_gives_no_tasks():
    broken = source_file("go", GO.replace("return sum", "return sum +"), "p.go")
    assert block_tasks(broken) == [] and line_tasks(broken) == []


def test_the_cursor_is_indented_as_the_body_was():
    task = block_tasks(source_file("go", GO, "p.go"))[1]
    assert task.text.splitlines()[task.line - 1] == "\t" and task.line == 15
    assert task.truth.startswith("out := make") and task.truth.endswith("return out")


def test_block_checks_catch_a_body_closed_too_early_or_cut_at_the_limit():
    task = block_tasks(source_file("go", GO, "p.go"))[0]
    # a function written past the body's end can parse (the file's `}` closes the new one): the
    # block-end check is what catches it
    early = check_block(task, completed(task, "return a + b\n}\n\nfunc more() {\n\treturn"))
    assert early["wrote_past_block_end"] and not early["stopped_at_block_end"] and early["parses"]
    twice = check_block(task, completed(task, "return a + b\n}"))
    assert twice["wrote_past_block_end"] and not twice["parses"]
    cut = check_block(task, completed(task, "sum := a +", stop_reason="max_tokens"))
    assert not cut["parses"] and not cut["stopped_at_block_end"] and not cut["wrote_past_block_end"]
    braces_in_a_string = check_block(task, completed(task, 'println("}}")\n\treturn a + b'))
    assert braces_in_a_string["parses"] and braces_in_a_string["stopped_at_block_end"]
    as_a_line = Completion("return a + b", "stand-in", 4, 0.5, "stop", "line", 100)
    assert not check_block(task, as_a_line)["block_scope"]


LINES = """\
package p

func f(xs []int) int {
\tfmt.Println(g(xs[0]), "(")
\t// skip(me)
\treturn h(xs)
}
"""


def test_line_tasks_keep_the_closing_tokens_and_remove_a_balanced_stretch():
    found = line_tasks(source_file("go", LINES, "p.go"))
    assert len(found) == 2  # not the comment, nor lines without a closing token
    first = {t.text[t.text.rfind("\n", 0, t.cursor) + 1 : t.cursor]: t for t in found[0]}
    # what lies between the cursor and the kept `)` must be balanced: after `g(` it closes g's `(`,
    # after `fmt` it leaves Println's open
    assert set(first) == {"\tfmt.Println(", "\tfmt.Println(g"}
    task = first["\tfmt.Println("]
    assert (task.name, task.line, task.suffix, task.truth) == ('fmt.Println(g(xs[0]), "(")', 4, ")", 'g(xs[0]), "("')
    assert splice(task, task.truth) == LINES
    assert [(t.truth, t.suffix) for t in found[1]] == [("xs", ")")]  # `return` is no identifier; after `h`, `(xs` is open


@pytest.mark.parametrize(
    ("language", "line", "cursor_after", "suffix", "completion", "repeats", "parses"),
    [
        ("go", "\tfmt.Println(a, b)", "Println(", ")", "a, b", False, True),
        ("go", "\tfmt.Println(a, b)", "Println(", ")", "a, b)", True, False),  # the kept `)` closes it already
        ("go", "\tfmt.Println(g(a))", "Println(", ")", "g(a)", False, True),  # ends with `)`, its own
        ("go", "\tfmt.Println(a)", "Println(", ")", 'a, ")"', False, True),  # a `)` in a string is no token
        ("c", "    x = add(a, b);", "add(", ");", "a, b);", True, False),
        ("c", "    x = add(a, b);", "add(", ");", "a, b", False, True),
        ("c", "    x = y;", "x", ";", " = y;", True, True),  # a second end of statement (C takes `;;`)
        ("c", "    x = y;", "x", ";", " = y", False, True),
    ],
)
def test_a_line_completion_repeats_the_kept_text_when_it_closes_what_it_did_not_open(language, line, cursor_after, suffix, completion, repeats, parses):
    wrapper = {"go": ("package p\n\nfunc f() {\n", "\n}\n"), "c": ("void f(void) {\n", "\n}\n")}[language]
    text = wrapper[0] + line + wrapper[1]
    cursor_line = wrapper[0] + line[: line.index(cursor_after) + len(cursor_after)]
    task = Task("line", source_file(language, text, "x"), line.strip(), 3, cursor_line + suffix + wrapper[1], len(cursor_line), "", suffix)
    flags = check_line(task, completed(task, completion))
    assert flags["repeats_suffix"] is repeats
    assert flags["parses"] is parses
    assert flags["ends_with_suffix"] is completion.endswith(suffix)
    assert not flags["newline"] and not flags["empty"]


def test_a_line_completion_with_a_newline_or_nothing_is_flagged():
    task = line_tasks(source_file("go", LINES, "p.go"))[1][0]
    flags = check_line(task, completed(task, "xs\n\tfoo(xs"))
    assert flags["newline"] and not flags["parses"] and not flags["empty"]
    assert check_line(task, completed(task, ""))["empty"]


def files() -> list[SourceFile]:
    return [
        source_file("go", GO, "p.go"),
        source_file("go", LINES, "q.go"),
        source_file("rust", RUST, "lib.rs"),
        source_file("typescript", TYPESCRIPT, "a.ts"),
        source_file("java", JAVA, "Box.java"),
        source_file("c", C, "a.c"),
    ]


def test_pick_is_deterministic_per_seed_and_per_language():
    one, again = pick(files(), 2, seed=7), pick(files(), 2, seed=7)
    assert [(t.file.relative, t.cursor, t.kind) for t in one] == [(t.file.relative, t.cursor, t.kind) for t in again]
    go_only = pick([f for f in files() if f.source.language == "go"], 2, seed=7)
    assert [(t.file.relative, t.cursor) for t in go_only] == [(t.file.relative, t.cursor) for t in one if t.language == "go"]
    counts = {(t.language, t.kind) for t in one}
    assert ("go", "block") in counts and ("go", "line") in counts and ("c", "block") in counts
    assert sum(t.language == "go" and t.kind == "block" for t in one) == 2


def test_a_run_with_right_answers_scores_every_check_and_writes_an_auditable_result():
    tasks = pick(files(), 3, seed=0)
    seen = []

    def complete(text: str, cursor: int, *, path: str) -> Completion:
        task = next(t for t in tasks if t.text == text and t.cursor == cursor)
        seen.append(path)
        return completed(task, task.truth)

    cases = run(complete, tasks, on_case=lambda case: None)
    assert seen == [str(t.file.path) for t in tasks]  # the path, with its suffix, tells the language
    setup = {"model": "stand-in", "machine_kind": "amx-xeon", "per_language": 3, "seed": 0, "max_tokens": 128}
    result = json.loads(json.dumps(as_json(cases, setup, [{"language": "go", "package": "inline", "version": "0.0.0"}])))
    go = result["summary"]["go"]
    assert (go["block_parses"], go["stopped_at_block_end"], go["line_repeats"], go["line_parses"]) == (1.0, 1.0, 0.0, 1.0)
    assert len(result["cases"]) == len(tasks) and {"file", "name", "completion", "parses", "truth"} <= set(result["cases"][0])
    assert result["machine_kind"] == "amx-xeon" and "seed 0" in result["how"]
    console = Console(record=True, width=80)
    console.print(report(result))
    rows = {line.split()[0]: line.split()[1:] for line in console.export_text().splitlines() if line.strip()}
    assert rows["ts"][:4] == ["3", "100%", "100%", "100%"] and rows["lang"][:3] == ["blocks", "scope", "parses"]  # not cut at 80 columns


def test_languages_take_short_names_and_ids():
    assert languages("ts,go") == ["go", "typescript"]
    assert languages("tsx,cpp") == ["cpp", "typescriptreact"]
    assert languages("all") == sorted(set(scope_sources.LANGUAGES.values()))
    with pytest.raises(ValueError, match="unknown language 'cobol'"):
        languages("go,cobol")


def test_default_out_names_the_machine_and_the_model():
    assert default_out("0.5b", "amx-xeon").name == "scope-amx-xeon-0.5b.json"
    assert default_out("/models/Qwen Coder", "avx2-epyc").name == "scope-avx2-epyc-qwen-coder.json"


def _tarball(path: Path, files: dict[str, str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_fetch_unpacks_once_into_the_cache_and_files_follow_the_glob(tmp_path, monkeypatch):
    calls = []

    def download(source: Source, into: Path) -> Path:
        calls.append(source.key)
        archive = into / "pkg-1.0.tgz"
        _tarball(archive, {"package/src/a.ts": "let a = 1;\n", "package/src/b.js": "x\n", "package/src/big.ts": "x" * 70_000})
        return archive

    monkeypatch.setattr(scope_sources, "_download", download)
    source = Source("typescript", "npm", "pkg", "1.0", "package/src/*.ts")
    fetched = fetch(source, tmp_path)
    again = fetch(source, tmp_path)
    assert calls == ["npm-pkg-1.0"] and again.sha256 == fetched.sha256 and len(fetched.sha256) == 64
    assert [f.relative for f in fetched.files()] == ["package/src/a.ts"]  # the 70 KB file is left out
    assert fetched.to_json()["package"] == "pkg" and fetched.to_json()["sha256"] == fetched.sha256


def test_fetch_reads_sources_from_a_tarball_inside_the_package(tmp_path, monkeypatch):
    def download(source: Source, into: Path) -> Path:
        inner = into / "bsh.tar.gz"
        _tarball(inner, {"src/bsh/A.java": "class A {}\n"})
        archive = into / "outer.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(inner, "usr/src/bsh.tar.gz")
        return archive

    monkeypatch.setattr(scope_sources, "_download", download)
    fetched = fetch(Source("java", "pip", "bsh", "2", "src/bsh/*.java", inner="usr/src/bsh.tar.gz"), tmp_path)
    assert isinstance(fetched, Fetched) and [f.text for f in fetched.files()] == ["class A {}\n"]


def test_the_tiny_model_runs_the_benchmark_end_to_end(tiny_model, byte_tokenizer):
    loaded = LoadedModel(tiny_model, byte_tokenizer, "tiny", torch.float32, torch.device("cpu"), 0.0, False)
    assistant = Assistant(loaded, AssistantConfig(max_new_tokens=6))
    tasks = pick([source_file("go", GO, "p.go")], 1, seed=0)
    cases = run(assistant.complete, tasks)
    assert len(cases) == 2
    block = next(c for c in cases if c.task.kind == "block")
    assert block.completion.scope == "block" and block.flags["block_scope"]  # a blank line after `{` in a .go file
    line = next(c for c in cases if c.task.kind == "line")
    assert line.completion.scope == "line" and not line.flags["newline"]
    assert all(isinstance(c.flags["parses"], bool) for c in cases)
