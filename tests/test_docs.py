"""The README and docs/: generated tables up to date with the committed result files, no figure
without its file, no wording about how the project was worked on, and no broken relative link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from benchmarks import report

ROOT = Path(__file__).resolve().parent.parent
PAGES = report.pages(ROOT)


def test_generated_blocks_are_up_to_date():
    assert report.check(ROOT) == [], "run: python -m benchmarks.report"


def test_every_block_renders_and_is_used():
    used = {m.group("name") for page in PAGES for m in report.BLOCK.finditer(page.read_text(encoding="utf-8"))}
    assert set(report.BLOCKS) <= used, f"blocks no page shows: {sorted(set(report.BLOCKS) - used)}"


def test_an_unknown_block_fails():
    text = "x\n<!-- generated: no-such-block -->\nold\n<!-- end generated: no-such-block -->\n"
    new, problems = report.rewrite(text)
    assert new == text
    assert len(problems) == 1 and "unknown block 'no-such-block'" in problems[0]


def test_a_missing_result_file_fails(monkeypatch):
    monkeypatch.setitem(report.BLOCKS, "missing", lambda: report.caption(report.load("no-such-result.json")))
    _, problems = report.rewrite("<!-- generated: missing -->\n<!-- end generated: missing -->\n")
    assert len(problems) == 1 and "benchmarks/results/no-such-result.json: no such result file" in problems[0]


def test_unpaired_markers_fail():
    _, problems = report.rewrite("<!-- generated: headline -->\nno end\n")
    assert problems and "do not pair up" in problems[0]


def test_stale_block_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("<!-- generated: options -->\nsomething old\n<!-- end generated: options -->\n")
    problems = report.check(tmp_path)
    assert problems == ["README.md: stale block(s) options: run python -m benchmarks.report"]


def test_caption_names_file_how_and_machine_kind():
    result = report.load("passes-amx-xeon-0.5b.json")
    line = report.caption(result)
    assert line.startswith("From `benchmarks/results/passes-amx-xeon-0.5b.json`: `guidecode bench passes")
    assert line.endswith("on amx-xeon (Intel Xeon with AMX).")


def test_every_result_file_says_how_and_where():
    for path in sorted(report.RESULTS.glob("*.json")):
        result = report.load(path.name)
        assert result.kind in report.MACHINES and result.how.strip(), path.name


def test_result_file_names_carry_no_history():
    for path in report.RESULTS.glob("*.json"):
        assert not re.search(r"(^|-)(s\d+|before|after|fix|old|new)(-|$)", path.stem), path.name


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines"


# Words about how the project was worked on, not about what it does. Checked outside inline code,
# so the engine's `Session` may be named where code is quoted.
_WORK_WORDS = re.compile(r"\bsessions?\b|\bissues?\b|\bmy tests\b|\bthis session\b|\bticket\b", re.I)
# Files under runs/ are never committed; the default eval folder may be named (runs/eval/...).
_RUNS = re.compile(r"(?<![\w-])runs/(?!eval/)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_work_wording_and_no_uncommitted_files(page):
    bad = []
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1):
        prose = re.sub(r"`[^`]*`", "", line)
        if _WORK_WORDS.search(prose) or _RUNS.search(line):
            bad.append(f"{page.name}:{number}: {line.strip()}")
    assert not bad, "\n".join(bad)


_LINK = re.compile(r"\]\(([^)\s]+)\)|<img [^>]*src=\"([^\"]+)\"")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_point_to_files(page):
    broken = []
    for m in _LINK.finditer(page.read_text(encoding="utf-8")):
        target = (m.group(1) or m.group(2)).split("#")[0]
        if not target or re.match(r"[a-z]+:", target):
            continue  # an anchor in the page, or a URL
        if not (page.parent / target).exists():
            broken.append(target)
    assert not broken, f"{page.name}: links to missing files: {broken}"


def test_repo_split_counts_tasks_by_whether_the_context_held_the_symbol():
    def task(held: bool, with_exact: bool, without_exact: bool) -> dict:
        return {"symbol_in_context": held, "with_context": {"exact": with_exact}, "without_context": {"exact": without_exact}}

    setup = {"model": "Qwen2.5-Coder-0.5B-Instruct (quantized, cpu)", "lines": "cross-file"}
    tasks = [task(True, True, False), task(True, True, True), task(False, False, True)]
    in_file = report.Result("repo-x-in-file.json", {"setup": {**setup, "lines": "in-file"}, "tasks": [task(True, True, False)]})
    split = report.repo_split([report.Result("repo-x.json", {"setup": setup, "tasks": tasks}), in_file])
    assert split == {
        "0.5B (context always)": "where the context held the line's symbol: exact match 100.0% (2/2) with context against 50.0% (1/2) without; "
        "where it did not: exact match 0.0% (0/1) with context against 100.0% (1/1) without"
    }
    unsure = report.Result("repo-y.json", {"setup": {**setup, "context_when": "unsure"}, "tasks": tasks})
    assert list(report.repo_split([report.Result("repo-x.json", {"setup": setup, "tasks": tasks}), unsure])) == [
        "0.5B (context always)",
        "0.5B (context unsure)",
    ]  # runs of one model with different settings are not pooled
