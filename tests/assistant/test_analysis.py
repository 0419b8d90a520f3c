"""AnalysisSession against real language servers (jedi-language-server; basedpyright when it is
installed): members and signatures follow the text given, not the disk; answers are cached; a
missing, dead or slow server gives None with a reason, never a hang."""

from __future__ import annotations

import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import assistant.analysis.session as analysis
from assistant.analysis import AnalysisConfig, AnalysisSession, Member, Parameter, Signature
from assistant.analysis.document_sync import incremental_change, lsp_position
from assistant.analysis.installation import find_server_binary
from assistant.analysis.replies import members_from_reply, signature_from_reply

SHAPES = """\
class Circle:
    def __init__(self, radius: float, *, name: str = "c"):
        self.radius = radius
        self.name = name

    def area(self) -> float:
        return 3.14159 * self.radius ** 2

    def scale(self, k, /, extra=1, *args, flag=False, **kw):
        return Circle(self.radius * k)
"""
# main.py on disk says something else: an answer that mentions `only_on_disk` came from the disk.
ON_DISK = "class Circle:\n    def only_on_disk(self):\n        pass\n\nc = Circle()\nc.\n"
USE = "from shapes import Circle\n\nc = Circle(2.0)\nc."
CIRCLE_MEMBERS = {"area", "scale", "radius", "name"}
FUNCTION = "def f(a, b=1, /, c=2, *args: int, d, e=3, **kw: str):\n    pass\n\n"
F_PARAMETERS = (
    Parameter("a", "positional_only", False),
    Parameter("b", "positional_only", True),
    Parameter("c", "positional_or_keyword", True),
    Parameter("args", "var_positional", False),
    Parameter("d", "keyword_only", False),
    Parameter("e", "keyword_only", True),
    Parameter("kw", "var_keyword", False),
)


def write_workspace(root: Path) -> Path:
    (root / "shapes.py").write_text(SHAPES)
    (root / "main.py").write_text(ON_DISK)
    return root


def names(members) -> set[str]:
    return {member.name for member in members}


@pytest.fixture(scope="module")
def jedi(tmp_path_factory):
    with AnalysisSession(write_workspace(tmp_path_factory.mktemp("workspace"))) as session:
        assert session.available, session.unavailable_reason
        yield session


def assert_members_follow_the_text(session: AnalysisSession) -> None:
    main = Path(session.root, "main.py")
    before = (main.read_bytes(), main.stat().st_mtime_ns)
    members = session.completions("main.py", USE, len(USE))
    assert CIRCLE_MEMBERS <= names(members)
    assert "only_on_disk" not in names(members) and "perimeter" not in names(members)
    assert all(isinstance(m, Member) and m.name.isidentifier() and m.kind for m in members)
    assert len(names(members)) == len(members)  # deduplicated
    # a document with no file at all (a buffer piped on stdin) is analysed the same way
    assert names(session.completions("piped/stdin.py", USE, len(USE))) == names(members)
    assert not Path(session.root, "piped").exists()
    assert (main.read_bytes(), main.stat().st_mtime_ns) == before


def test_members_follow_the_given_text_not_the_file_on_disk(jedi):
    assert_members_follow_the_text(jedi)


def test_incremental_edits_follow_the_text(jedi):
    one = "class Local:\n    def one(self):\n        pass\n\nobj = Local()\nobj."
    found = names(jedi.completions("edits.py", one, len(one)))
    assert "one" in found and "two" not in found

    two = one.replace("        pass\n", "        pass\n\n    def two(self):\n        pass\n", 1)
    found = names(jedi.completions("edits.py", two, len(two)))
    assert {"one", "two"} <= found

    # one removed, and a line with characters outside the BMP before the query (2 UTF-16 units each)
    three = two.replace("    def one(self):\n        pass\n\n", "").replace("obj.", "mood = '🙂🙂'; obj.")
    found = names(jedi.completions("edits.py", three, len(three)))
    assert "two" in found and "one" not in found


def test_the_same_question_twice_is_a_cache_hit_with_the_same_answer(jedi):
    text = USE + "  # asked twice"
    offset = len(USE)
    first = jedi.completions("main.py", text, offset)
    hits, queries = jedi.stats.cache_hits, jedi.stats.queries
    assert jedi.completions("main.py", text, offset) is first
    assert (jedi.stats.cache_hits, jedi.stats.queries) == (hits + 1, queries + 1)
    call = FUNCTION + "f("
    assert jedi.signature("calls.py", call, len(call)) is jedi.signature("calls.py", call, len(call))
    assert jedi.stats.cache_hits == hits + 2


def test_a_prefetched_question_is_answered_once_and_the_same(jedi):
    text = USE + "  # prefetched"
    jedi.prefetch("main.py", text, len(USE))
    answered = jedi.stats.latencies_ms.copy()
    members = jedi.completions("main.py", text, len(USE))  # waits for the request already sent
    assert CIRCLE_MEMBERS <= names(members)
    assert len(jedi.stats.latencies_ms) == len(answered) + 1 and not jedi._inflight
    jedi.prefetch("main.py", text, len(USE))  # already known: nothing is sent
    assert not jedi._inflight and jedi.completions("main.py", text, len(USE)) is members


def test_a_package_folder_as_the_workspace_still_resolves_its_relative_imports(tmp_path):
    # jedi-language-server puts its workspace folder on sys.path; a package folder there left
    # `from . import make` uninferred (rich/jupyter.py's `console.` had no completions at all).
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from .tools import make\n")
    (package / "tools.py").write_text("class Tool:\n    def render(self):\n        pass\n\n\ndef make() -> Tool:\n    return Tool()\n")
    use = "from . import make\n\n\ndef show():\n    tool = make()\n    return tool."
    with AnalysisSession(package) as session:
        assert "render" in names(session.completions(package / "use.py", use, len(use)) or ())
    assert sorted(p.name for p in package.iterdir()) == ["__init__.py", "tools.py"]  # nothing written


def test_signatures_give_each_parameter_its_kind(jedi):
    text = FUNCTION + "from shapes import Circle\nf("
    signature = jedi.signature("calls.py", text, len(text))
    assert isinstance(signature, Signature) and "f(a, b=1, /" in signature.label
    assert signature.parameters == F_PARAMETERS

    text = "print("
    values, sep = jedi.signature("calls.py", text, len(text)).parameters[:2]
    assert values == Parameter("values", "var_positional", False)
    assert sep == Parameter("sep", "keyword_only", True)

    text = FUNCTION + "from shapes import Circle\nCircle("
    assert jedi.signature("calls.py", text, len(text)).parameters == (
        Parameter("radius", "positional_or_keyword", False),
        Parameter("name", "keyword_only", True),
    )
    text = "{}.get("
    assert jedi.signature("calls.py", text, len(text)).parameters[0].name == "key"


def test_the_parser_reads_what_each_server_sends():
    # recorded from jedi-language-server 0.41.3: string labels without the "/" and "*" markers
    jedi = {
        "signatures": [
            {
                "label": "def scale(k, /, extra=1, *args, flag=False, **kw)",
                "parameters": [{"label": "k"}, {"label": "extra=1"}, {"label": "*args"}, {"label": "flag=False"}, {"label": "**kw"}],
            }
        ],
        "activeSignature": 0,
    }
    assert signature_from_reply(jedi).parameters == (
        Parameter("k", "positional_only", False),
        Parameter("extra", "positional_or_keyword", True),
        Parameter("args", "var_positional", False),
        Parameter("flag", "keyword_only", True),
        Parameter("kw", "var_keyword", False),
    )
    # recorded from basedpyright 1.40.2: [start, end] labels, markers as parameters, untyped
    # `*args, **kw` shown as "...", defaults holding quotes, escapes and brackets
    pyright = {
        "signatures": [
            {
                "label": '(*values: object, sep: str | None = " ", end: str | None = "\\n", flush: Literal[False] = False) -> None',
                "parameters": [{"label": [1, 16]}, {"label": [18, 39]}, {"label": [41, 63]}, {"label": [65, 94]}],
            },
            {
                "label": "(k: Unknown, /, extra: int = 1, ..., flag: bool = False) -> None",
                "parameters": [{"label": [1, 11]}, {"label": [13, 14]}, {"label": [16, 30]}, {"label": [32, 35]}, {"label": [37, 55]}],
            },
        ],
        "activeSignature": 1,
    }
    assert signature_from_reply(pyright).parameters == (
        Parameter("k", "positional_only", False),
        Parameter("extra", "positional_or_keyword", True),
        Parameter("...", "var_positional", False),
        Parameter("...", "var_keyword", False),
        Parameter("flag", "keyword_only", True),
    )
    pyright["activeSignature"] = 0
    assert [p.name for p in signature_from_reply(pyright).parameters] == ["values", "sep", "end", "flush"]
    # no "(...)" in the label: the per-parameter labels, offsets into the label included
    bare = {"signatures": [{"label": "x: int, y=')'", "parameters": [{"label": [0, 6]}, {"label": "y=')'"}]}]}
    assert signature_from_reply(bare).parameters == (Parameter("x", "positional_or_keyword", False), Parameter("y", "positional_or_keyword", True))
    assert signature_from_reply({"signatures": []}) is None and signature_from_reply(None) is None

    items = [
        {"label": "radius=", "kind": 6, "insertText": "radius="},  # jedi, keyword argument
        {"label": "area", "kind": 3, "insertText": "area()$0", "insertTextFormat": 2},  # jedi, snippet
        {"label": "scale", "kind": 2, "sortText": "10.9999.scale", "data": {}},  # basedpyright: label only
        {"label": "area", "kind": 2},  # a duplicate
        {"label": "+", "kind": 24},  # not an identifier
    ]
    expected = (Member("radius", 6), Member("area", 3), Member("scale", 2))
    assert members_from_reply(items) == expected
    assert members_from_reply({"isIncomplete": True, "items": items}) == expected


def test_positions_count_utf16_units_and_changes_are_minimal():
    text = "a = '🙂'\r\nb = 2\rc.\n"
    assert lsp_position(text, text.index("'🙂'") + 3) == {"line": 0, "character": 8}
    assert lsp_position(text, text.index("b")) == {"line": 1, "character": 0}
    assert lsp_position(text, len(text) - 1) == {"line": 2, "character": 2}

    edits = [
        ("x = 1\ny.", "x = 1\nyy = 2\ny."),
        ("s = '🙂'\nobj.", "s = '🙂🙂'\nobj."),
        ("one\r\ntwo\r\n", "one\r\nthree\r\n"),
        ("abc", "abc"),
        ("", "print()\n"),
        ("delete me\nkeep", "keep"),
    ]
    for old, new in edits:
        change = incremental_change(old, new)
        assert apply(old, change) == new
        assert len(change["text"]) <= abs(len(new) - len(old)) + 6  # only the edited part is sent


def apply(text: str, change: dict) -> str:
    """An independent reading of an LSP content change: lines by str.splitlines, UTF-16 columns."""
    lines = text.splitlines(keepends=True) + [""]

    def offset(position: dict) -> int:
        line = lines[position["line"]]
        units, column = 0, 0
        while units < position["character"]:
            units += len(line[column].encode("utf-16-le")) // 2
            column += 1
        return sum(map(len, lines[: position["line"]])) + column

    start, end = offset(change["range"]["start"]), offset(change["range"]["end"])
    return text[:start] + change["text"] + text[end:]


def test_config_rejects_bad_values_by_name():
    with pytest.raises(ValueError, match="rust-analyzer"):
        AnalysisConfig(server="rust-analyzer")
    with pytest.raises(ValueError, match="budget_s"):
        AnalysisConfig(budget_s=0)
    with pytest.raises(ValueError, match="first_budget_s.*nan"):
        AnalysisConfig(first_budget_s=float("nan"))


def test_a_missing_binary_means_unavailable_and_no_constraint(monkeypatch, tmp_path):
    monkeypatch.setattr(analysis, "find_server_binary", lambda server: None)
    with AnalysisSession(tmp_path, AnalysisConfig(server="pyright")) as session:
        started = time.perf_counter()
        assert session.completions("a.py", "x.", 2) is None
        assert session.signature("a.py", "f(", 2) is None
        assert time.perf_counter() - started < 0.5
        assert not session.available
        assert "basedpyright-langserver not found" in session.unavailable_reason
        assert session.stats.failures == 2 and "not found" in session.stats.reasons[-1]


def test_a_binary_that_is_no_language_server_fails_to_start(monkeypatch, tmp_path):
    monkeypatch.setattr(analysis, "find_server_binary", lambda server: shutil.which("false"))
    started = time.perf_counter()
    with AnalysisSession(tmp_path) as session:
        assert not session.available and "failed to start" in session.unavailable_reason
        assert session.completions("a.py", "x.", 2) is None
    assert time.perf_counter() - started < 10


def test_a_killed_server_is_restarted_and_answers_again(tmp_path):
    with AnalysisSession(write_workspace(tmp_path)) as session:
        assert CIRCLE_MEMBERS <= names(session.completions("main.py", USE, len(USE)))
        killed = session.server_pid
        os.kill(killed, signal.SIGKILL)
        during = session.completions("main.py", USE + "\n", len(USE))
        assert during is None or CIRCLE_MEMBERS <= names(during)
        # The exit is noticed asynchronously: under load the session may still look ready for a moment.
        deadline = time.perf_counter() + 30
        while session.stats.restarts == 0 and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert session.wait_ready(30)
        assert session.stats.restarts == 1 and session.server_pid != killed
        assert any("exited" in reason for reason in session.stats.reasons)
        assert CIRCLE_MEMBERS <= names(session.completions("main.py", USE + "\n\n", len(USE)))


def test_a_server_that_keeps_dying_is_given_up(tmp_path):
    with AnalysisSession(write_workspace(tmp_path), AnalysisConfig(max_restarts=0)) as session:
        os.kill(session.server_pid, signal.SIGKILL)
        assert session.completions("main.py", USE, len(USE)) is None  # it meets the dead server
        # The loop may reap the killed process a moment after the query gave up on it: until
        # then the server still looks alive, so wait for the session's verdict, not the process's.
        deadline = time.perf_counter() + 30
        while session.available and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert not session.wait_ready(1)
        assert not session.available and "not restarting it again" in session.unavailable_reason
        assert session.stats.restarts == 0


def test_a_query_past_its_budget_gives_none_in_time(tmp_path):
    config = AnalysisConfig(budget_s=1e-4, first_budget_s=10)
    with AnalysisSession(write_workspace(tmp_path), config) as session:
        assert CIRCLE_MEMBERS <= names(session.completions("main.py", USE, len(USE)))  # the first query
        text = USE + "\n"
        started = time.perf_counter()
        assert session.completions("main.py", text, len(USE)) is None
        assert time.perf_counter() - started < 1.0
        assert session.stats.timeouts == 1 and "no answer within" in session.stats.reasons[-1]
        # asked again, the same answer: no constraint, from the cache
        assert session.completions("main.py", text, len(USE)) is None
        assert (session.stats.timeouts, session.stats.cache_hits) == (1, 1)
    assert session.completions("main.py", USE + "\n\n", len(USE)) is None  # closed: no answer, no raise


@pytest.mark.skipif(find_server_binary("pyright") is None, reason="basedpyright-langserver is not installed (pip install basedpyright)")
def test_basedpyright_members_and_signatures(tmp_path):
    with AnalysisSession(write_workspace(tmp_path), AnalysisConfig(server="pyright")) as session:
        assert session.available, session.unavailable_reason
        assert_members_follow_the_text(session)
        text = USE.replace("c.", "mood = '🙂🙂'; c.")  # basedpyright counts columns in UTF-16 units
        assert CIRCLE_MEMBERS <= names(session.completions("main.py", text, len(text)))
        text = FUNCTION + "f("
        signature = session.signature("calls.py", text, len(text))
        assert signature.label.startswith("(a") and signature.parameters == F_PARAMETERS
