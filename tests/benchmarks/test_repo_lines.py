"""Repository next-line tasks: exactly the lines of a tiny tree that use a name defined in a
sibling module, the file with the line's code removed, and a choice that a seed fixes."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.repo_lines import RepoLineTask, build, module_name, source_files

SHAPES = """\
LIMIT = 3


class Shape:
    def area(self):
        return 0


def make_shape(size):
    return Shape()
"""

MAIN = """\
from .shapes import LIMIT, Shape, make_shape
from . import shapes


def local_helper():
    return 42


def main():
    first = make_shape(LIMIT)  # a comment is not part of the answer
    x = local_helper()
    if isinstance(first, Shape):
        return shapes.make_shape(LIMIT + 1)
    return x
"""


def _tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    return _tree(tmp_path / "pkg", {"__init__.py": "", "shapes.py": SHAPES, "main.py": MAIN})


def _by_line(root: Path, **kwargs) -> dict[int, RepoLineTask]:
    return {task.line: task for task in build(root, **kwargs).tasks}


def test_finds_the_lines_that_use_a_sibling_modules_names(pkg: Path):
    tasks = _by_line(pkg)
    assert sorted(tasks) == [10, 12, 13]
    assert {task.path for task in tasks.values()} == {"main.py"}  # shapes.py only uses its own names
    assert [(task.symbol, task.defined_in) for _, task in sorted(tasks.items())] == [
        ("make_shape", "shapes.py"),
        ("Shape", "shapes.py"),
        ("make_shape", "shapes.py"),  # through the module: `shapes.make_shape`
    ]


def test_the_task_is_the_file_without_the_lines_code(pkg: Path):
    task = _by_line(pkg)[10]
    text = (pkg / "main.py").read_text()
    line = "    first = make_shape(LIMIT)  # a comment is not part of the answer\n"
    assert task.expected == "first = make_shape(LIMIT)"
    assert task.text == text.replace(line, "    \n")
    assert task.text[: task.cursor].endswith("def main():\n    ")
    assert task.id == "pkg/main.py:10"


def test_skips_imports_local_names_and_trivial_lines(pkg: Path):
    tasks = _by_line(pkg)
    assert 1 not in tasks and 2 not in tasks  # the import lines themselves
    assert 11 not in tasks  # local_helper is defined in the same file
    (pkg / "short.py").write_text("from .shapes import LIMIT\n\n\ndef f(n):\n    return (\n        LIMIT\n    )\n")
    assert not [t for t in build(pkg).tasks if t.path == "short.py"]  # `LIMIT` alone is too short


def test_a_name_the_file_binds_itself_is_not_counted(tmp_path: Path):
    main = "from .shapes import Shape\n\n\ndef f(Shape):\n    return isinstance(Shape, object)\n"
    root = _tree(tmp_path / "pkg", {"__init__.py": "", "shapes.py": SHAPES, "main.py": main})
    assert build(root).tasks == ()


def test_follows_reexports_and_absolute_imports(tmp_path: Path):
    files = {
        "__init__.py": "from .shapes import Shape\n",
        "shapes.py": SHAPES,
        "use.py": "import pkg.shapes as s\nfrom pkg import Shape\n\n\ndef f():\n    return isinstance(s.make_shape(1), Shape)\n",
    }
    root = _tree(tmp_path / "pkg", files)
    [task] = build(root).tasks
    assert (task.path, task.symbol, task.defined_in) == ("use.py", "make_shape", "shapes.py")  # the first such name on the line


def test_names_from_outside_the_tree_and_duplicate_lines_are_not_tasks(tmp_path: Path):
    main = "import os\nfrom .shapes import Shape\n\n\ndef f():\n    return os.path.join('a', 'b')\n\n\ndef g():\n    shape = Shape()\n    shape = Shape()\n"
    root = _tree(tmp_path / "pkg", {"__init__.py": "", "shapes.py": SHAPES, "main.py": main})
    assert build(root).tasks == ()  # `shape = Shape()` stands twice: it could be copied


def test_skips_tests_and_vendored_code(pkg: Path):
    (pkg / "tests").mkdir()
    (pkg / "_vendor").mkdir()
    assert [f.name for f in source_files(pkg)] == ["__init__.py", "main.py", "shapes.py"]
    assert module_name(pkg, pkg / "shapes.py") == "pkg.shapes"


def _many(root: Path, files: int, same: bool) -> Path:
    def uses(k: int) -> str:
        lines = "".join(f"    v{i} = make_shape({i if same else 10 * k + i})\n" for i in range(8))
        return "from .shapes import Shape, make_shape\n\n\ndef f():\n" + lines

    return _tree(root, {"__init__.py": "", "shapes.py": SHAPES, **{f"m{k}.py": uses(k) for k in range(files)}})


def test_choice_is_deterministic_and_spread_over_files(tmp_path: Path):
    root = _many(tmp_path / "pkg", 4, same=False)
    first, again = build(root, limit=4, seed=1), build(root, limit=4, seed=1)
    assert first.tasks == again.tasks and first.lines == 32
    assert len({t.path for t in first.tasks}) == 4  # round-robin: every file before any file's second line
    assert [t.id for t in first.tasks] == sorted(t.id for t in first.tasks)  # in file and line order
    assert {t.id for t in build(root, limit=4, seed=2).tasks} != {t.id for t in first.tasks}


def test_one_task_per_answer(tmp_path: Path):
    root = _many(tmp_path / "pkg", 2, same=True)
    tasks = build(root).tasks
    assert len(tasks) == 8 and len({t.expected for t in tasks}) == 8  # the same 8 lines in two files


# ---------------------------------------------------------------------------------------------
# In-file lines: the control, lines that need only their own file


def test_in_file_lines_use_a_name_of_their_own_file(pkg: Path):
    tasks = {(t.path, t.line): t for t in build(pkg, lines="in-file").tasks}
    assert sorted(tasks) == [("main.py", 11), ("shapes.py", 10)]
    assert [(t.expected, t.symbol, t.defined_in) for _, t in sorted(tasks.items())] == [
        ("x = local_helper()", "local_helper", "main.py"),
        ("return Shape()", "Shape", "shapes.py"),
    ]


def test_a_line_with_an_imported_tree_name_is_not_an_in_file_task(tmp_path: Path):
    main = (
        "import os\nfrom .shapes import make_shape\n\n\nLOCAL = 2\n\n\nclass Box:\n    size = 1\n\n    def grow(self):\n"
        "        return self.size + LOCAL\n\n    def both(self):\n        return make_shape(self.size)\n\n"
        "    def outside(self):\n        return os.path.join(str(LOCAL))\n\n    def __init__(self):\n        super().__init__()\n"
    )
    root = _tree(tmp_path / "pkg", {"__init__.py": "", "shapes.py": SHAPES, "main.py": main})
    tasks = {t.line: t for t in build(root, lines="in-file").tasks if t.path == "main.py"}
    assert 15 not in tasks  # `make_shape(self.size)`: a name imported from the tree
    assert (tasks[12].symbol, tasks[18].symbol) == ("size", "LOCAL")  # a class attribute; a name from outside the tree is fine
    assert 21 not in tasks  # dunder names are not the file's own
    cross = {t.line for t in build(root).tasks if t.path == "main.py"}
    assert cross == {15}  # and the kinds do not overlap


def test_in_file_choice_is_deterministic(tmp_path: Path):
    def own(k: int) -> str:
        lines = "".join(f"    v{i} = helper({10 * k + i})\n" for i in range(8))
        return f"def helper(n):\n    return n\n\n\ndef f{k}():\n" + lines

    root = _tree(tmp_path / "pkg", {"__init__.py": "", **{f"m{k}.py": own(k) for k in range(4)}})
    first, again = build(root, limit=4, seed=1, lines="in-file"), build(root, limit=4, seed=1, lines="in-file")
    assert first.tasks == again.tasks and first.lines == 32
    assert len({t.path for t in first.tasks}) == 4
    assert {t.id for t in build(root, limit=4, seed=2, lines="in-file").tasks} != {t.id for t in first.tasks}
    with pytest.raises(ValueError, match="lines must be one of"):
        build(root, lines="elsewhere")


def test_the_kind_names_the_result_file():
    from benchmarks.repo_bench import context_when, default_out, lines_kind

    assert default_out("0.5b", "amx-xeon", "jinja2").name == "repo-amx-xeon-0.5b-jinja2.json"
    assert default_out("0.5b", "amx-xeon", "jinja2", "in-file").name == "repo-amx-xeon-0.5b-jinja2-in-file.json"
    assert default_out("0.5b", "amx-xeon", "jinja2", "in-file", "always").name == "repo-amx-xeon-0.5b-jinja2-in-file-always.json"
    assert lines_kind({}) == "cross-file"  # a result file from before the kind was recorded
    assert context_when({}) == "always"  # ... or before the context could wait for an unsure line
