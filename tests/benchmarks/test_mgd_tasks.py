"""MGD tasks: exactly the cross-file member accesses of a tiny repo, tolerant token scanning, and the
jedi-backed access checker; plus a few tasks from a real installed package."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.mgd_tasks import AccessCheck, check_accesses, identifiers, member_accesses, mine_repo, mine_tasks

SHAPES = """\
import util


class Shape:
    def area(self):
        return 0

    def scale(self, k):
        self.size = k
        return self


def make_shape():
    return Shape()


def limit():
    return util.LIMIT
"""

UTIL = """\
import os


def join(*parts):
    return os.path.join(*parts)


LIMIT = 3
"""

MAIN = """\
import os
import shapes
import util


class Local:
    def run(self):
        return 1

    def go(self):
        return self.run()


def main():
    s = shapes.make_shape()
    label = "é"; total = s.area() + util.LIMIT
    path = os.path.join("a", "b")  # shapes.area in a comment
    name = "shapes.area".upper()
    chained = (shapes.make_shape()
               .area())
    return Local().go(), s.scale(2), total, path, util.join(path), name, chained


def patch():
    util.LIMIT = 4
"""

# (path, line, member, defined_in): cross-file members only. Dropped: self.run and Local().go
# (same file), os.path/path.join (stdlib), str.upper, the leading-dot `.area()`, and the
# assignment targets `self.size` and `util.LIMIT` (assigning may create a member).
EXPECTED = {
    ("main.py", 15, "make_shape", "shapes.py"),
    ("main.py", 16, "area", "shapes.py"),
    ("main.py", 16, "LIMIT", "util.py"),
    ("main.py", 19, "make_shape", "shapes.py"),
    ("main.py", 21, "scale", "shapes.py"),
    ("main.py", 21, "join", "util.py"),
    ("shapes.py", 18, "LIMIT", "util.py"),
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for name, text in {"shapes.py": SHAPES, "util.py": UTIL, "main.py": MAIN}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    return tmp_path


def line_of(task) -> int:
    return int(task.id.split(":")[1])


def test_tiny_repo_gives_exactly_the_cross_file_accesses(repo):
    tasks = mine_tasks(repo, per_file=10)
    assert {(t.path, line_of(t), t.member, t.defined_in) for t in tasks} == EXPECTED
    for task in tasks:
        text = (repo / task.path).read_text(encoding="utf-8")
        assert task.prompt.endswith(".") and text.startswith(task.prompt)
        assert task.rest_of_line.startswith(task.member) and "\n" not in task.rest_of_line
        assert text.startswith(task.prompt + task.rest_of_line + "\n")
        column = int(task.id.split(":")[2])  # 1-based, in characters ("é" is one)
        assert task.prompt.split("\n")[-1] == text.split("\n")[line_of(task) - 1][: column - 1]
        assert task.id.startswith(f"{repo.name}/{task.path}:")


def test_rest_of_line_and_prompt_of_one_task(repo):
    tasks = [t for t in mine_tasks(repo, per_file=10) if t.member == "area"]
    assert len(tasks) == 1
    assert tasks[0].rest_of_line == "area() + util.LIMIT"
    assert tasks[0].prompt.endswith('label = "é"; total = s.')


def test_deterministic_per_seed_with_limits(repo):
    first = mine_tasks(repo, seed=3, per_file=2)
    assert first == mine_tasks(repo, seed=3, per_file=2)
    assert sum(t.path == "main.py" for t in first) == 2
    assert len(mine_tasks(repo, seed=3, per_file=10, limit=2)) == 2
    assert mine_tasks(repo, limit=0) == []


def test_progress_and_skipped_files(repo):
    (repo / "broken.py").write_text("def f(:\n")
    (repo / "big.py").write_text("#" * 200_001)
    (repo / "tests").mkdir()
    (repo / "tests" / "test_main.py").write_text("import shapes\nshapes.make_shape()\n")
    calls = []
    report = mine_repo(repo, per_file=10, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 5) for i in range(1, 6)]
    assert (report.files_total, report.skipped_large, report.skipped_unparsable) == (5, 1, 1)
    assert len(report.tasks) == len(EXPECTED)


def test_a_file_over_its_time_budget_is_dropped_and_counted(repo):
    report = mine_repo(repo, file_budget_s=0.0)
    assert report.tasks == () and report.skipped_slow == 3 and report.files_analysed == 0


def test_bad_per_file_is_refused(repo):
    with pytest.raises(ValueError, match="per_file"):
        mine_tasks(repo, per_file=0)


def test_identifiers_skip_strings_comments_keywords_and_tolerate_cut_code():
    text = 'if x.y:  # a.b\n    s = "c.d" + f"{e.f}"\n    match = 1.5\nfoo(bar, "unterminated'
    assert identifiers(text) == ["x", "y", "s", "match", "foo", "bar"]
    assert identifiers("def f(a,\n  b") == ["f", "a", "b"]
    assert identifiers('x = """never closed\ny') == ["x"]


@pytest.mark.parametrize(
    "code, start, expected",
    [
        ("a.b.c", 0, [(2, "b"), (4, "c")]),
        ("a.b.c", 2, [(4, "c")]),  # the first dot is before start
        ('x = "a.b"  # c.d\ny.z', 0, [(19, "z")]),
        ("1.5 + 1.5.real + 1 .imag + .5", 0, [(10, "real"), (20, "imag")]),
        ("from .mod import x\nfrom . import y\nimport os.path\nos.path", 0, [(53, "path")]),
        ("None.x; (1).y; [].z; ''.join; f'{q.r}'.s", 0, [(5, "x"), (12, "y"), (18, "z"), (24, "join"), (39, "s")]),
        ("foo(a.b,\n    c.", 0, [(6, "b")]),  # cut after a dot: no member yet
        ("  if a.b:\n x.y\n", 0, [(7, "b"), (13, "y")]),  # bad dedent does not stop the scan
        ("s = 'open.string\nt.u", 0, [(19, "u")]),
        ("a.if", 0, []),
    ],
)
def test_member_accesses(code, start, expected):
    assert member_accesses(code, start) == expected


def test_check_accesses_existing_missing_unknown(repo):
    prompt = MAIN[: MAIN.index("    return Local()")]
    code = prompt + "    s.area()\n    s.volume()\n    mystery.thing()\n"
    assert check_accesses(repo, "main.py", code, len(prompt)) == AccessCheck(existing=1, missing=1, unknown=1)


def test_check_accesses_on_an_installed_package(tmp_path):
    code = "from rich.text import Text\nt = Text('x')\nt.append('y')\nt.apend('z')\n"
    assert check_accesses(tmp_path, "m.py", code, 0) == AccessCheck(existing=1, missing=1, unknown=0)


def test_real_package_tasks_are_cross_file():
    rich = pytest.importorskip("rich")
    root = Path(rich.__file__).parent
    tasks = mine_tasks(root, limit=5)
    assert len(tasks) == 5
    for task in tasks:
        assert task.defined_in != task.path and (root / task.defined_in).is_file()
        assert task.prompt.endswith(".") and (root / task.path).read_text(encoding="utf-8").startswith(task.prompt)


def test_every_mined_truth_checks_as_existing(repo):
    for task in mine_tasks(repo, per_file=10):
        check = check_accesses(repo, task.path, task.prompt + task.rest_of_line, len(task.prompt) - 1)
        assert check.existing >= 1 and check.missing == 0, task.id
